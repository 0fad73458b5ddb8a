//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary folder, a server on a
//! free loopback port, one fresh database per test, and everything removed when the test
//! process ends (a watchdog shell stops the server once its parent is gone, even after a panic
//! or `kill -9`).
//!
//! The server binaries come from `$FACEMATCH_PG_BIN`, else `pg_config --bindir`, else the
//! newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package). PostgreSQL refuses to
//! run as root, so under root the cluster runs as the `postgres` user the package creates.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why a test cluster could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "PostgreSQL server binaries not found (install Debian's `postgresql` package, or set \
         FACEMATCH_PG_BIN to the folder holding initdb and postgres)"
    )]
    NoBinaries,
    /// Starting a program failed.
    #[error("running {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("{program} failed: {output}")]
    Failed {
        /// The program.
        program: String,
        /// Its standard error (and output).
        output: String,
    },
    /// The server did not accept connections in time.
    #[error("the test PostgreSQL server did not start within {0:?}: {1}")]
    NotReady(Duration, String),
    /// Other I/O (temporary folder, free port).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A PostgreSQL cluster owned by this test process.
#[derive(Debug)]
pub struct TestCluster {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<String>,
    server: Mutex<Option<Child>>,
    next_db: AtomicU32,
    /// With TLS: the authority's certificate (PEM) that signed the server's.
    ca_file: Option<PathBuf>,
}

/// The cluster shared by every test of this process, started on first use.
///
/// # Errors
/// When PostgreSQL is not installed or does not start; tests should fail then, not skip.
pub fn shared_cluster() -> Result<&'static TestCluster, String> {
    static CLUSTER: OnceLock<Result<TestCluster, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| TestCluster::start().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// A fresh, empty database on the shared cluster: its `postgres://` URL.
///
/// # Errors
/// As [`shared_cluster`], or when `CREATE DATABASE` fails.
pub fn fresh_database() -> Result<String, String> {
    let cluster = shared_cluster()?;
    cluster.create_database().map_err(|e| e.to_string())
}

impl TestCluster {
    /// `initdb` into a new temporary folder and start the server on a free loopback port.
    ///
    /// # Errors
    /// See [`PgError`].
    pub fn start() -> Result<TestCluster, PgError> {
        Self::start_inner(false)
    }

    /// [`start`](Self::start) with TLS on: a throwaway authority signs the server's
    /// certificate for `127.0.0.1` and `localhost`; [`ca_file`](Self::ca_file) names it.
    ///
    /// # Errors
    /// See [`PgError`]; also when `openssl` is missing.
    pub fn start_tls() -> Result<TestCluster, PgError> {
        Self::start_inner(true)
    }

    /// The authority's certificate of a [`start_tls`](Self::start_tls) cluster.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    fn start_inner(tls: bool) -> Result<TestCluster, PgError> {
        let bin = find_bin()?;
        remove_stale_clusters();
        let root = tempfile::Builder::new()
            .prefix("facematch-pg-")
            .tempdir()?
            .keep();
        let data = root.join("data");
        let run_as = if running_as_root() {
            Some("postgres".to_owned())
        } else {
            None
        };
        if let Some(user) = &run_as {
            run(Command::new("chown").arg(user).arg(&root))?;
        }
        let mut cluster = TestCluster {
            port: free_port()?,
            bin,
            root,
            data,
            run_as,
            server: Mutex::new(None),
            next_db: AtomicU32::new(0),
            ca_file: None,
        };
        if tls {
            cluster.ca_file = Some(cluster.make_certificates()?);
        }
        let mut initdb = cluster.command("initdb");
        initdb
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C");
        run(&mut initdb)?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` as the superuser `postgres`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    ///
    /// # Errors
    /// When `psql` fails.
    pub fn create_database(&self) -> Result<String, PgError> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        self.sql(&format!("CREATE DATABASE {name} TEMPLATE template0"))?;
        Ok(self.url(&name))
    }

    /// Runs SQL as the superuser on the `postgres` database and returns `psql`'s output.
    ///
    /// # Errors
    /// When `psql` fails.
    pub fn sql(&self, sql: &str) -> Result<String, PgError> {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .args(["-U", "postgres", "-p"])
        .arg(self.port.to_string())
        .args(["-d", "postgres", "-c", sql]);
        run(&mut psql)
    }

    /// Stops the server (fast shutdown: connected clients are cut off), keeping its data.
    ///
    /// # Errors
    /// When the server cannot be signalled.
    pub fn stop(&self) -> Result<(), PgError> {
        let mut server = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(mut child) = server.take() {
            run(&mut self.pg_ctl_stop())?;
            // The watchdog exits once the server has.
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again after [`stop`](Self::stop), on the same port and data.
    ///
    /// # Errors
    /// When it does not start.
    pub fn restart(&self) -> Result<(), PgError> {
        self.start_server()
    }

    fn start_server(&self) -> Result<(), PgError> {
        let log = self.root.join("server.log");
        // The watchdog: runs the server and, once the test process that started it has gone
        // (ended, panicked, killed), stops it and removes the cluster's folder. TERM, not INT:
        // a non-interactive shell starts background jobs with SIGINT ignored; `runuser` passes
        // TERM on, and with no client left the server's smart shutdown ends at once.
        let script = r#"
            root="$1"; shift
            "$@" & pg=$!
            while kill -0 "$PPID" 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done
            if ! kill -0 "$PPID" 2>/dev/null; then
                kill -TERM $pg 2>/dev/null; wait $pg; rm -rf "$root"
            fi
        "#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg("watchdog").arg(&self.root);
        if let Some(user) = &self.run_as {
            cmd.args(["runuser", "-u", user, "--"]);
        }
        cmd.arg(self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.root.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .args(self.tls_settings())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let child = cmd.spawn().map_err(|source| PgError::Spawn {
            program: "postgres".into(),
            source,
        })?;
        *self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(child);
        let limit = Duration::from_secs(30);
        let started = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if started.elapsed() > limit {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(PgError::NotReady(limit, log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A throwaway authority and a server certificate it signs (openssl), in the cluster's
    /// folder, readable by the server's user; returns the authority's certificate.
    fn make_certificates(&self) -> Result<PathBuf, PgError> {
        let dir = &self.root;
        let ca_key = dir.join("ca.key");
        let ca = dir.join("ca.pem");
        let key = dir.join("server.key");
        let csr = dir.join("server.csr");
        let crt = dir.join("server.crt");
        let ext = dir.join("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca)
            .args(["-days", "2", "-subj", "/CN=facematch test authority"]))?;
        run(Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr)
            .args(["-subj", "/CN=localhost"]))?;
        run(Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .args(["-CAcreateserial", "-days", "2", "-out"])
            .arg(&crt)
            .arg("-extfile")
            .arg(&ext))?;
        if let Some(user) = &self.run_as {
            run(Command::new("chown").arg(user).arg(&key).arg(&crt))?;
        }
        run(Command::new("chmod").arg("600").arg(&key))?;
        Ok(ca)
    }

    /// `pg_ctl stop -m fast`: connected clients are cut off at once.
    fn pg_ctl_stop(&self) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.args(["stop", "-m", "fast", "-w", "-D"]).arg(&self.data);
        cmd
    }

    /// The server's TLS settings (none without TLS).
    fn tls_settings(&self) -> Vec<String> {
        if self.ca_file.is_none() {
            return Vec::new();
        }
        vec![
            "-c".into(),
            "ssl=on".into(),
            "-c".into(),
            format!("ssl_cert_file={}", self.root.join("server.crt").display()),
            "-c".into(),
            format!("ssl_key_file={}", self.root.join("server.key").display()),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Removes the folders of earlier test clusters whose server is gone (a test process killed
/// with its watchdog): no `postmaster.pid`, or one naming a process that no longer exists, and
/// untouched for ten minutes (so a cluster being set up right now is left alone).
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("facematch-pg-")
        {
            continue;
        }
        let root = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        let pid = std::fs::read_to_string(root.join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned));
        let alive = pid.is_some_and(|pid| std::path::Path::new("/proc").join(pid).exists());
        if old && !alive {
            let _ = std::fs::remove_dir_all(&root);
        }
    }
}

/// Runs a command to completion; its output, or its stderr as the error.
fn run(cmd: &mut Command) -> Result<String, PgError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PgError::Spawn {
            program: program.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(PgError::Failed {
            program,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ),
        })
    }
}

fn find_bin() -> Result<PathBuf, PgError> {
    if let Some(dir) = std::env::var_os("FACEMATCH_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| PgError::NoBinaries)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or(PgError::NoBinaries)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> Result<u16, PgError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

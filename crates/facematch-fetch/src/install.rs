//! Verify, then rename: how one archive member becomes a cached model file, so that a
//! partial or tampered download never does.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::FetchError;
use crate::manifest::ModelFile;
use crate::store::ModelStore;
use crate::verify::{check_hash, hex};

/// The most bytes one model file may have. The largest pinned file (ONNX Runtime's
/// library) is about 35 MB; an archive member past this is refused while it streams,
/// so a hostile archive cannot fill the disk.
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;

/// Streams one archive member into the cache as `file`, shared by wheels and
/// tarballs: into a per-process `.partial` file, hashed on the way, renamed into
/// place only when the sha256 is the pinned one. Per-process name: two processes
/// fetching at once never write the same file, and the rename is atomic, so the
/// cache only ever holds whole files. Whatever fails, the partial file is removed.
pub(crate) fn install_member(
    store: &ModelStore,
    member: &mut dyn Read,
    archive: &Path,
    file: &ModelFile,
    limit: u64,
) -> Result<(), FetchError> {
    let partial = store
        .dir()
        .join(format!("{}.{}.partial", file.file_name, std::process::id()));
    let result = write_verified(member, &partial, archive, file, limit).and_then(|()| {
        let dest = store.path(file);
        fs::rename(&partial, &dest).map_err(|source| FetchError::Io { path: dest, source })
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
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
) -> Result<(), FetchError> {
    let io = |source| FetchError::Io {
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
            return Err(FetchError::TooLarge {
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

/// The error for `file`'s member of `archive` that could not be read.
pub(crate) fn archive_error(archive: &Path, file: &ModelFile, detail: String) -> FetchError {
    FetchError::Archive {
        archive: archive.to_path_buf(),
        member: file.member.to_string(),
        detail,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::manifest::FACEAPI_AGE_GENDER_WEIGHTS;

    /// A fresh, empty scratch folder for one test.
    pub(crate) fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("facematch-fetch-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// Names in `dir` left by an install (partial files, download folders).
    pub(crate) fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("read dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial") || n.starts_with(".download-"))
            .collect()
    }

    #[test]
    fn a_member_past_the_size_limit_is_refused_while_streaming() {
        let dir = scratch("too-large");
        let store = ModelStore::new(&dir);
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        // An endless member: only the bound stops it.
        let mut endless = std::io::repeat(0);
        let err = install_member(&store, &mut endless, &dir.join("x.tgz"), &file, 1000)
            .expect_err("accepted");
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1000, .. }),
            "{err}"
        );
        assert!(!store.path(&file).exists());
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }
}

//! Verification stamps: "this file, as it is now, hashed to its pinned sha256".
//!
//! Hashing the whole bundle (~67 MB) costs tens of milliseconds of CPU on every
//! process start. After a file has been hashed and found to be the pinned one, a
//! stamp records the file's identity — device, inode, size, modification and
//! status-change times in nanoseconds — together with the sha256 it was checked
//! against. A later load accepts the file without hashing only when its identity is
//! exactly the stamped one *and* the stamped sha256 is the pinned one; anything else
//! (no stamp, a stamp that does not parse, a stamp for another sha256, any field
//! different) means the file is hashed again, as before.
//!
//! # Threat model
//!
//! What it keeps refusing: a file whose bytes changed after it was checked —
//! corrupted, truncated, overwritten in place, replaced by a rename, or swapped for
//! another pinned file. Every write or rename sets the file's status-change time
//! (ctime) to the current time, and no unprivileged call can set it back (`touch -d`
//! restores mtime, not ctime), so a changed file never matches its stamp. Timestamps
//! are coarse (a clock tick), so a file changed less than [`RACY_MARGIN`] before it
//! was hashed gets no stamp: a second write in the same tick could otherwise go
//! unseen (git's "racily clean" problem).
//!
//! What it does not protect against: someone who can write the cache folder *and*
//! deliberately forges a stamp, root resetting the clock, or silent media corruption
//! that changes bytes without a write (no timestamp moves). Such a user could
//! equally swap the runtime library between its hash check and `dlopen` (which only
//! ever checked it by path), or replace the `facematch` binary itself; the sha256
//! pins guard what was downloaded and what is on disk against accidents and
//! third parties, not against the account that runs facematch. `facematch models
//! fetch` ignores stamps and hashes every file in full.
//!
//! Writing a stamp is best effort: a read-only cache folder only means every load
//! hashes, as it did before stamps existed.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The folder, inside the cache, that holds one stamp per model file.
pub(crate) const STAMP_DIR: &str = ".verified";

/// First word of every stamp: its format.
const MAGIC: &str = "facematch-verified-v1";

/// A stamp is a few dozen bytes; anything longer is not one of ours.
const MAX_STAMP_BYTES: u64 = 512;

/// A file whose mtime or ctime is this close to the moment hashing started gets no
/// stamp: a change within the same timestamp tick would not show.
pub(crate) const RACY_MARGIN: Duration = Duration::from_secs(2);

/// Who a file is and when it last changed, as `stat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileIdentity {
    /// The identity in `meta`; `None` where the platform has no inode or ctime (then
    /// files are always hashed).
    #[cfg(unix)]
    pub(crate) fn of(meta: &fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
        Some(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// The identity in `meta`; `None` where the platform has no inode or ctime (then
    /// files are always hashed).
    #[cfg(not(unix))]
    pub(crate) fn of(_meta: &fs::Metadata) -> Option<Self> {
        None
    }

    /// Whether the file last changed at least `margin` before `started`.
    fn settled_before(&self, started: SystemTime, margin: Duration) -> bool {
        let Ok(since_epoch) = started.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let Ok(limit) = i128::try_from(since_epoch.saturating_sub(margin).as_nanos()) else {
            return false;
        };
        self.mtime_ns <= limit && self.ctime_ns <= limit
    }
}

/// Where the stamp of `file_name` lives in the cache `dir`.
pub(crate) fn stamp_path(dir: &Path, file_name: &str) -> PathBuf {
    dir.join(STAMP_DIR).join(file_name)
}

/// The stamp's text: one line, space-separated.
fn encode(sha256: &str, id: &FileIdentity) -> String {
    format!(
        "{MAGIC} {sha256} {} {} {} {} {}\n",
        id.dev, id.ino, id.size, id.mtime_ns, id.ctime_ns
    )
}

/// The sha256 and identity in a stamp's text; `None` for anything malformed.
fn decode(text: &str) -> Option<(&str, FileIdentity)> {
    let mut words = text.strip_suffix('\n')?.split(' ');
    if words.next()? != MAGIC {
        return None;
    }
    let sha256 = words.next()?;
    let id = FileIdentity {
        dev: words.next()?.parse().ok()?,
        ino: words.next()?.parse().ok()?,
        size: words.next()?.parse().ok()?,
        mtime_ns: words.next()?.parse().ok()?,
        ctime_ns: words.next()?.parse().ok()?,
    };
    if words.next().is_some() {
        return None;
    }
    Some((sha256, id))
}

/// True when `dir` holds a stamp saying that the file `file_name`, with identity
/// `id`, hashed to `sha256`. Any doubt (no stamp, unreadable, malformed, another
/// hash, another identity) is `false`: the caller hashes.
pub(crate) fn is_stamped(dir: &Path, file_name: &str, sha256: &str, id: &FileIdentity) -> bool {
    let Ok(f) = fs::File::open(stamp_path(dir, file_name)) else {
        return false;
    };
    let mut text = String::new();
    if f.take(MAX_STAMP_BYTES).read_to_string(&mut text).is_err() {
        return false;
    }
    decode(&text).is_some_and(|(stamped, stamped_id)| stamped == sha256 && stamped_id == *id)
}

/// Records that the file `file_name` with identity `id` hashed to `sha256`, written
/// atomically (a temporary file renamed into place). Writes nothing when the file
/// changed less than `margin` ([`RACY_MARGIN`] outside tests) before hashing
/// `started`. Callers ignore the error: a stamp is an optimisation.
pub(crate) fn write_stamp(
    dir: &Path,
    file_name: &str,
    sha256: &str,
    id: &FileIdentity,
    started: SystemTime,
    margin: Duration,
) -> std::io::Result<()> {
    if !id.settled_before(started, margin) {
        return Ok(());
    }
    let stamps = dir.join(STAMP_DIR);
    fs::create_dir_all(&stamps)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&stamps)?;
    tmp.write_all(encode(sha256, id).as_bytes())?;
    tmp.persist(stamp_path(dir, file_name))
        .map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        }
    }

    #[test]
    fn a_stamp_round_trips_and_malformed_ones_do_not_parse() {
        let text = encode("ab", &id());
        assert_eq!(decode(&text), Some(("ab", id())));
        for bad in [
            "",
            "facematch-verified-v1 ab 1 2 3 4\n",
            "facematch-verified-v1 ab 1 2 3 4 5 6\n",
            "facematch-verified-v0 ab 1 2 3 4 5\n",
            "facematch-verified-v1 ab 1 2 x 4 5\n",
            "facematch-verified-v1 ab 1 2 3 4 5",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_file_changed_just_before_hashing_is_not_settled() {
        let now = SystemTime::now();
        let ns = |t: SystemTime| {
            i128::try_from(t.duration_since(UNIX_EPOCH).expect("epoch").as_nanos()).expect("ns")
        };
        let fresh = FileIdentity {
            mtime_ns: ns(now),
            ctime_ns: ns(now),
            ..id()
        };
        assert!(!fresh.settled_before(now, RACY_MARGIN));
        let old = FileIdentity {
            mtime_ns: ns(now - Duration::from_secs(3)),
            ctime_ns: ns(now - Duration::from_secs(3)),
            ..id()
        };
        assert!(old.settled_before(now, RACY_MARGIN));
        // A recent ctime alone (mtime set back with `touch -d`) is not settled.
        assert!(!FileIdentity {
            ctime_ns: ns(now),
            ..old
        }
        .settled_before(now, RACY_MARGIN));
    }
}

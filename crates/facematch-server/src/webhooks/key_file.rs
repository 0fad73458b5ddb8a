//! Where the key that seals webhook destination secrets at rest lives
//! (`--webhook-key-file`): by default beside the database, as `<database>.webhook-key`,
//! created with a fresh random key (mode 0600) on first use. The server and `facematch
//! webhooks` must use the same file, or the server cannot open the secrets the CLI
//! sealed. An in-memory database (`:memory:`) has no file: its key is random per process.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use facematch_store::{DatabaseLocation, StoreError, WebhookKey};

/// Suffix of the default key file, appended to the database's file name.
pub const KEY_FILE_SUFFIX: &str = ".webhook-key";

/// The default key file of `database`: `<database>.webhook-key`; `None` for an in-memory
/// database (`:memory:` or an empty path).
pub fn default_key_path(database: &Path) -> Option<PathBuf> {
    if database.as_os_str().is_empty() || database == Path::new(":memory:") {
        return None;
    }
    let mut name = OsString::from(database.as_os_str());
    name.push(KEY_FILE_SUFFIX);
    Some(PathBuf::from(name))
}

/// The key file to use: `explicit` (`--webhook-key-file`) when given, else
/// [`default_key_path`] of `database`.
pub fn key_path(explicit: Option<&Path>, database: &Path) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| default_key_path(database))
}

/// Loads (or creates, 0600) the key file for `database`, or draws a random key when there
/// is no file to keep it in (an in-memory database).
pub fn load_key(explicit: Option<&Path>, database: &Path) -> Result<WebhookKey, StoreError> {
    match key_path(explicit, database) {
        Some(path) => WebhookKey::load_or_create(&path),
        None => Ok(WebhookKey::random()),
    }
}

/// [`load_key`] for a `--database`: with PostgreSQL there is no file to sit beside and every
/// replica must seal with the same key, so `explicit` is required.
pub fn load_key_for(
    explicit: Option<&Path>,
    database: &DatabaseLocation,
) -> Result<WebhookKey, StoreError> {
    match (database.sqlite_path(), explicit) {
        (Some(path), _) => load_key(explicit, path),
        (None, Some(file)) => WebhookKey::load_or_create(file),
        (None, None) => Err(StoreError::Invalid(
            "with a PostgreSQL database, --webhook-key-file is required: every replica (and \
             `facematch webhooks`) must seal webhook secrets with the same key"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sits_beside_the_database_and_memory_has_none() {
        assert_eq!(
            default_key_path(Path::new("/var/lib/facematch/facematch.db")),
            Some(PathBuf::from("/var/lib/facematch/facematch.db.webhook-key"))
        );
        assert_eq!(
            default_key_path(Path::new("facematch.db")),
            Some(PathBuf::from("facematch.db.webhook-key"))
        );
        assert_eq!(default_key_path(Path::new(":memory:")), None);
        assert_eq!(default_key_path(Path::new("")), None);
        assert_eq!(
            key_path(Some(Path::new("/etc/fm.key")), Path::new("a.db")),
            Some(PathBuf::from("/etc/fm.key"))
        );
    }

    #[test]
    fn load_key_creates_the_file_once_and_reads_it_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("f.db");
        load_key(None, &db).expect("created");
        let path = dir.path().join("f.db.webhook-key");
        let first = std::fs::read(&path).expect("key file written");
        load_key(None, &db).expect("read back");
        assert_eq!(std::fs::read(&path).expect("still there"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

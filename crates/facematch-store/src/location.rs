//! `--database`: an SQLite file or a PostgreSQL URL, parsed once, shown without its password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{Migrate, PostgresOptions, Store, StoreError};

/// Where a store's data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An SQLite file (`:memory:`: a private in-memory database), the embedded default.
    Sqlite(PathBuf),
    /// A PostgreSQL URL, `postgres://user:password@host:port/db?sslmode=require`. Its
    /// password never appears in `Debug` or `Display`.
    Postgres(String),
}

impl DatabaseLocation {
    /// Opens the store here: SQLite with [`Store::open_with`], PostgreSQL with
    /// [`Store::connect_postgres`] (`options` apply to PostgreSQL only).
    pub fn open(&self, options: &PostgresOptions, migrate: Migrate) -> Result<Store, StoreError> {
        match self {
            DatabaseLocation::Sqlite(path) => Store::open_with(path, migrate),
            DatabaseLocation::Postgres(url) => Store::connect_postgres(url, options, migrate),
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseLocation::Sqlite(path) => Some(path),
            DatabaseLocation::Postgres(_) => None,
        }
    }
}

impl FromStr for DatabaseLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the database is empty: give a file path or a postgres:// URL".into());
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            // Checked now, so that a typo is a usage error and not a failure at start-up.
            s.parse::<postgres::Config>()
                .map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
            Ok(DatabaseLocation::Postgres(s.to_owned()))
        } else if s.contains("://") {
            Err("only postgres:// URLs and SQLite file paths are supported".into())
        } else {
            Ok(DatabaseLocation::Sqlite(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::Sqlite(path) => write!(f, "{}", path.display()),
            DatabaseLocation::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseLocation({self})")
    }
}

/// The URL with the password of its user part and any `password=` parameter replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn paths_and_urls_are_told_apart() {
        assert_eq!(
            "data/fm.db".parse::<DatabaseLocation>().unwrap(),
            DatabaseLocation::Sqlite("data/fm.db".into())
        );
        assert!(matches!(
            "postgres://fm@db.internal/fm"
                .parse::<DatabaseLocation>()
                .unwrap(),
            DatabaseLocation::Postgres(_)
        ));
        assert!(matches!(
            "postgresql://fm@h/fm".parse::<DatabaseLocation>().unwrap(),
            DatabaseLocation::Postgres(_)
        ));
        assert!("mysql://x@h/db".parse::<DatabaseLocation>().is_err());
        assert!("  ".parse::<DatabaseLocation>().is_err());
        assert!("postgres://fm@h:notaport/db"
            .parse::<DatabaseLocation>()
            .is_err());
    }

    #[test]
    fn the_password_never_shows() {
        for url in [
            "postgres://fm:s3cret-pw@db:5432/fm?sslmode=require",
            "postgres://fm@db/fm?password=s3cret-pw&sslmode=require",
            "postgresql://fm:s3cret-pw@db",
        ] {
            let loc: DatabaseLocation = url.parse().unwrap();
            let shown = format!("{loc} {loc:?}");
            assert!(!shown.contains("s3cret-pw"), "{shown}");
            assert!(shown.contains("db"), "{shown}");
        }
        let loc: DatabaseLocation = "postgres://fm@db/fm".parse().unwrap();
        assert_eq!(loc.to_string(), "postgres://fm@db/fm");
    }
}

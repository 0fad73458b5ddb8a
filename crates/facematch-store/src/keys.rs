//! API keys: `fm_<prefix>_<secret>`, stored as SHA-256 of the whole key.
//!
//! The prefix is public (shown in listings, safe in logs) and indexes the lookup; the secret part
//! carries ~256 bits of entropy, so an unsalted fast hash is enough (no one can brute-force it,
//! unlike a password).

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;

use crate::db;
use crate::random::{random_string, BASE62};
use crate::sql::{args, Conn, Row};
use crate::{AuthError, Store, StoreError, KEY_PREFIX};

/// Length of the public prefix.
pub(crate) const PREFIX_LEN: usize = 8;
/// Length of the secret part: 43 base62 characters ≈ 256 bits.
pub(crate) const SECRET_LEN: usize = 43;
/// Longest accepted key name.
pub(crate) const MAX_NAME_CHARS: usize = 200;

/// What to create with [`Store::create_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Human-readable label shown in listings.
    pub name: String,
    /// Initial credit balance (must be ≥ 0).
    pub credits: i64,
    /// Whether the key may use operator routes (credit top-up).
    pub admin: bool,
    /// After this instant the key is rejected with [`AuthError::Expired`].
    pub expires_at: Option<OffsetDateTime>,
    /// The account that owns the key, if it was created through e-mail sign-up.
    pub account_id: Option<String>,
}

/// A stored API key, without any secret material (only the public prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    /// Key id (UUID v4); used as the owner of credits and saved decisions.
    pub id: String,
    /// The 8-character public part of the key (`fm_<prefix>_...`), safe to show and log.
    pub prefix: String,
    /// Human-readable label.
    pub name: String,
    /// Whether the key may use operator routes.
    pub admin: bool,
    /// Current credit balance.
    pub credits: i64,
    /// When the key was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the key stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the key was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Owning account, for keys made by e-mail sign-up, in the console or with `--account`.
    pub account_id: Option<String>,
    /// When the key last made a face match (to the minute; `None`: never).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A newly created key: its record plus the plaintext key, which is never stored and cannot be
/// shown again. `Debug` redacts the secret.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored record.
    pub record: KeyRecord,
    /// The full key (`fm_<prefix>_<secret>`); use `expose_secret()` to print it once.
    pub secret: SecretString,
}

/// Columns read by [`record_from_row`], in order.
const KEY_COLUMNS: &str =
    "id, prefix, name, admin, credits, created_at, expires_at, revoked_at, account_id, \
     last_used_at";

fn record_from_row(row: &Row) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id: row.get(0)?,
        prefix: row.get(1)?,
        name: row.get(2)?,
        admin: row.get(3)?,
        credits: row.get(4)?,
        created_at: row.time(5)?,
        expires_at: row.opt_time(6)?,
        revoked_at: row.opt_time(7)?,
        account_id: row.get(8)?,
        last_used_at: row.opt_time(9)?,
    })
}

/// Accepts a key id, a bare prefix, `fm_<prefix>`, or a whole key (only its prefix is used), and
/// returns the string to match against `id` or `prefix`.
fn lookup_token(id_or_prefix: &str) -> &str {
    let s = id_or_prefix.trim();
    match s.strip_prefix(KEY_PREFIX) {
        Some(rest) => rest.split('_').next().unwrap_or(rest),
        None => s,
    }
}

pub(crate) fn create_key(store: &Store, new: NewKey) -> Result<CreatedKey, StoreError> {
    let now = db::now();
    store.write(|c| insert_key(c, &new, now))
}

/// Inserts a key using an existing connection or transaction (also used by e-mail verification,
/// which must create the key in the same transaction that consumes the code).
pub(crate) fn insert_key(
    c: &mut dyn Conn,
    new: &NewKey,
    now: OffsetDateTime,
) -> Result<CreatedKey, StoreError> {
    if new.credits < 0 {
        return Err(StoreError::Invalid("credits must not be negative".into()));
    }
    if new.name.chars().count() > MAX_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "key name longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if let Some(account_id) = &new.account_id {
        let exists: bool = c.query_one(
            "SELECT EXISTS(SELECT 1 FROM accounts WHERE id = ?1)",
            args![account_id],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
    }
    let created_at = db::to_nanos(now)?;
    let expires_at = db::opt_to_nanos(new.expires_at)?;
    // A prefix collision (62^8 ≈ 2·10^14 values) is astronomically unlikely, but the UNIQUE
    // constraint makes it a skipped insert rather than an ambiguity; just draw again. (ON
    // CONFLICT, not a caught error: on PostgreSQL an error would end the whole transaction.)
    for _ in 0..5 {
        let prefix = random_string(BASE62, PREFIX_LEN)?;
        let secret_part = random_string(BASE62, SECRET_LEN)?;
        let full = format!("{KEY_PREFIX}{prefix}_{secret_part}");
        let hash = db::sha256(&full);
        let id = uuid::Uuid::new_v4().to_string();
        let inserted = c.execute(
            "INSERT INTO api_keys (id, prefix, key_hash, name, admin, credits, created_at, \
             expires_at, revoked_at, account_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9) \
             ON CONFLICT DO NOTHING",
            args![
                &id,
                &prefix,
                hash.as_slice(),
                &new.name,
                new.admin,
                new.credits,
                created_at,
                expires_at,
                new.account_id.as_deref()
            ],
        )?;
        match inserted {
            1 => {
                let record = KeyRecord {
                    id,
                    prefix,
                    name: new.name.clone(),
                    admin: new.admin,
                    credits: new.credits,
                    created_at: now,
                    expires_at: new.expires_at,
                    revoked_at: None,
                    account_id: new.account_id.clone(),
                    last_used_at: None,
                };
                return Ok(CreatedKey {
                    record,
                    secret: SecretString::from(full),
                });
            }
            _ => continue,
        }
    }
    Err(StoreError::Internal(
        "could not draw a unique key prefix".into(),
    ))
}

/// Splits `fm_<prefix>_<secret>` and checks the shape; `None` for anything else.
fn parse_key(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    let ok = prefix.len() == PREFIX_LEN
        && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        && !secret.is_empty()
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(prefix)
}

pub(crate) fn authenticate(
    store: &Store,
    presented: &str,
    now: OffsetDateTime,
) -> Result<KeyRecord, AuthError> {
    let presented = presented.trim();
    if presented.is_empty() {
        return Err(AuthError::Missing);
    }
    let Some(prefix) = parse_key(presented) else {
        return Err(AuthError::Unknown);
    };
    let computed = db::sha256(presented);
    let found = store.run(|c| {
        c.query_row(
            &format!("SELECT {KEY_COLUMNS}, key_hash FROM api_keys WHERE prefix = ?1"),
            args![prefix],
            |row| Ok((record_from_row(row)?, row.get::<Vec<u8>>(10)?)),
        )
    })?;
    // Looked up by the public prefix; the secret itself is only ever compared as a hash, in
    // constant time.
    let Some((record, stored_hash)) = found else {
        return Err(AuthError::Unknown);
    };
    if !db::hash_eq(&computed, &stored_hash) {
        return Err(AuthError::Unknown);
    }
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    if record.expires_at.is_some_and(|exp| now >= exp) {
        return Err(AuthError::Expired);
    }
    Ok(record)
}

pub(crate) fn list_keys(store: &Store) -> Result<Vec<KeyRecord>, StoreError> {
    store.run(|c| {
        c.query_map(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"),
            args![],
            record_from_row,
        )
    })
}

pub(crate) fn get_key(store: &Store, id_or_prefix: &str) -> Result<Option<KeyRecord>, StoreError> {
    store.run(|c| find_key_in(c, id_or_prefix))
}

/// Looks a key up by id or prefix on an existing connection or transaction.
pub(crate) fn find_key_in(
    c: &mut dyn Conn,
    id_or_prefix: &str,
) -> Result<Option<KeyRecord>, StoreError> {
    let token = lookup_token(id_or_prefix);
    if token.is_empty() {
        return Ok(None);
    }
    c.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 OR prefix = ?1"),
        args![token],
        record_from_row,
    )
}

pub(crate) fn revoke_key(store: &Store, id_or_prefix: &str) -> Result<bool, StoreError> {
    let token = lookup_token(id_or_prefix);
    if token.is_empty() {
        return Ok(false);
    }
    let now = db::to_nanos(db::now())?;
    // COALESCE keeps the first revocation time when revoking twice.
    let n = store.run(|c| {
        c.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1 OR prefix = ?1",
            args![token, now],
        )
    })?;
    Ok(n > 0)
}

impl Store {
    /// The keys of an account, oldest first (revoked and expired ones included).
    pub fn list_account_keys(&self, account_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.run(|c| {
            c.query_map(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = ?1 \
                     ORDER BY created_at, id"
                ),
                args![account_id],
                record_from_row,
            )
        })
    }

    /// The key with this id if it belongs to the account (`None` otherwise: unknown or
    /// another account's look alike).
    pub fn get_account_key(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.run(|c| {
            c.query_row(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND account_id = ?2"),
                args![id, account_id],
                record_from_row,
            )
        })
    }

    /// Revokes the account's key with this id (the first revocation time is kept); `false`
    /// when the account has no such key.
    pub fn revoke_account_key(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        let now = db::to_nanos(db::now())?;
        let n = self.run(|c| {
            c.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) \
                 WHERE id = ?1 AND account_id = ?2",
                args![id, account_id, now],
            )
        })?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod account_key_tests {
    use crate::accounts::test_account as account;
    use crate::test_backends::each_backend;
    use crate::{NewKey, Store};

    fn key(store: &Store, account_id: Option<&str>, name: &str) -> String {
        store
            .create_key(NewKey {
                name: name.into(),
                credits: 3,
                admin: false,
                expires_at: None,
                account_id: account_id.map(str::to_owned),
            })
            .expect("key")
            .record
            .id
    }

    each_backend! {
        fn an_account_sees_and_revokes_only_its_own_keys(store) {
            let a = account(&store, "a@example.com");
            let b = account(&store, "b@example.com");
            let a1 = key(&store, Some(&a), "a1");
            let a2 = key(&store, Some(&a), "a2");
            let b1 = key(&store, Some(&b), "b1");
            key(&store, None, "operator");
            let listed: Vec<String> =
                store.list_account_keys(&a).expect("list").into_iter().map(|k| k.name).collect();
            assert_eq!(listed, ["a1", "a2"]);
            assert!(store.get_account_key(&a, &b1).expect("get").is_none());
            assert!(store.get_account_key(&a, &a2).expect("get").is_some());
            assert!(!store.revoke_account_key(&a, &b1).expect("revoke"));
            assert!(store.get_key(&b1).expect("get").expect("b1").revoked_at.is_none());
            assert!(store.revoke_account_key(&a, &a1).expect("revoke"));
            let first = store.get_key(&a1).expect("get").expect("a1").revoked_at;
            assert!(first.is_some());
            assert!(store.revoke_account_key(&a, &a1).expect("again"));
            assert_eq!(store.get_key(&a1).expect("get").expect("a1").revoked_at, first);
        }
    }
}

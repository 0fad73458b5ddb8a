//! E-mail accounts: registration with a password, verification by a short one-time code.
//!
//! The code is short (6 characters from a 31-symbol alphabet ≈ 30 bits) because a person types
//! it, so what keeps it safe is the attempt limit and the expiry, both enforced here in the same
//! transaction that checks the code.

use std::fmt;

use argon2::password_hash::PasswordHasher;
use argon2::Argon2;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use crate::random::{random_string, OTP_ALPHABET};
use crate::{
    db, keys, CreatedKey, NewKey, Store, StoreError, VerifyError, MAX_OTP_ATTEMPTS,
    MIN_PASSWORD_CHARS, OTP_TTL,
};

/// Length of an e-mail verification code.
pub(crate) const OTP_LEN: usize = 6;
/// Longest e-mail address accepted (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;
/// Longest password accepted: bounds the hashing work a single request can cause.
const MAX_PASSWORD_BYTES: usize = 1024;

/// A plaintext e-mail verification code, returned once by [`Store::register`] so it can be sent.
/// Only its hash is stored. `Debug` is redacted so it cannot leak through a stray log line.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// The code itself (6 characters), for the e-mail body or the server log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl ExposeSecret<str> for OtpCode {
    fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode([REDACTED])")
    }
}

/// Trims and lower-cases an e-mail address and checks its shape: one `@`, a non-empty local part,
/// a dotted domain, no whitespace or control characters. Deliverability is what the code proves.
fn normalize_email(email: &str) -> Result<String, StoreError> {
    let email = email.trim().to_lowercase();
    let bad = || StoreError::Invalid("email is not a valid e-mail address".into());
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err(bad());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') {
        return Err(bad());
    }
    let labels_ok = domain.split('.').all(|l| !l.is_empty());
    if !domain.contains('.') || !labels_ok {
        return Err(bad());
    }
    Ok(email)
}

/// Canonical form of a typed code, so `" abc234 "` and `"ABC234"` hash the same.
fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

pub(crate) fn register(
    store: &Store,
    email: &str,
    password: &str,
    now: OffsetDateTime,
) -> Result<OtpCode, StoreError> {
    let email = normalize_email(email)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    // Hash before taking the connection lock: Argon2 is deliberately slow and memory-hungry, and
    // other requests should not wait for it.
    let password_hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| StoreError::Internal(format!("password hashing failed: {e}")))?
        .to_string();
    let code = random_string(OTP_ALPHABET, OTP_LEN)?;
    let code_hash = db::sha256(&code);
    let now_n = db::to_nanos(now)?;
    let expires_n = db::to_nanos(now + OTP_TTL)?;

    let mut conn = store.conn();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: Option<(String, Option<i64>)> = tx
        .query_row(
            "SELECT id, verified_at FROM accounts WHERE email = ?1",
            [&email],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let account_id = match existing {
        Some((_, Some(_))) => {
            return Err(StoreError::Conflict(
                "this e-mail address is already registered".into(),
            ))
        }
        Some((id, None)) => {
            // Re-registering before verifying: the latest password wins.
            tx.execute(
                "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
                params![id, password_hash],
            )?;
            id
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            tx.execute(
                "INSERT INTO accounts (id, email, password_hash, created_at, verified_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL)",
                params![id, email, password_hash, now_n],
            )?;
            id
        }
    };
    // Replacing the row invalidates any earlier code and resets the attempt counter.
    tx.execute(
        "INSERT OR REPLACE INTO email_codes (account_id, code_hash, expires_at, attempts) \
         VALUES (?1, ?2, ?3, 0)",
        params![account_id, code_hash.as_slice(), expires_n],
    )?;
    tx.commit()?;
    Ok(OtpCode(code))
}

pub(crate) fn verify_email(
    store: &Store,
    email: &str,
    code: &str,
    now: OffsetDateTime,
    signup_credits: i64,
) -> Result<CreatedKey, VerifyError> {
    // A malformed address cannot have a pending code.
    let Ok(email) = normalize_email(email) else {
        return Err(VerifyError::NoPendingCode);
    };
    let computed = db::sha256(&normalize_code(code));
    let now_n = db::to_nanos(now)?;

    let mut conn = store.conn();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::from)?;
    type Pending = (
        String,
        Option<i64>,
        Option<Vec<u8>>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Pending> = tx
        .query_row(
            "SELECT a.id, a.verified_at, c.code_hash, c.expires_at, c.attempts \
             FROM accounts a LEFT JOIN email_codes c ON c.account_id = a.id \
             WHERE a.email = ?1",
            [&email],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(StoreError::from)?;
    let Some((account_id, None, Some(stored_hash), Some(expires_at), Some(attempts))) = row else {
        return Err(VerifyError::NoPendingCode);
    };
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    // The limit is checked before the code, so once the tries are used up even the right code is
    // refused: otherwise the limit would not bound guessing at all.
    if attempts >= MAX_OTP_ATTEMPTS {
        return Err(VerifyError::TooManyAttempts);
    }
    if now_n >= expires_at {
        return Err(VerifyError::Expired);
    }
    let attempts = attempts + 1;
    tx.execute(
        "UPDATE email_codes SET attempts = ?2 WHERE account_id = ?1",
        params![account_id, attempts],
    )
    .map_err(StoreError::from)?;
    if !db::hash_eq(&computed, &stored_hash) {
        // Commit the spent attempt even though the call fails.
        tx.commit().map_err(StoreError::from)?;
        return Err(VerifyError::WrongCode {
            attempts_left: MAX_OTP_ATTEMPTS - attempts,
        });
    }
    tx.execute(
        "UPDATE accounts SET verified_at = ?2 WHERE id = ?1",
        params![account_id, now_n],
    )
    .map_err(StoreError::from)?;
    tx.execute(
        "DELETE FROM email_codes WHERE account_id = ?1",
        [&account_id],
    )
    .map_err(StoreError::from)?;
    // Same transaction: either the account is verified *and* has its key, or neither.
    let created = keys::insert_key(
        &tx,
        &NewKey {
            name: format!("signup {email}"),
            credits: signup_credits,
            admin: false,
            expires_at: None,
            account_id: Some(account_id),
        },
        now,
    )?;
    tx.commit().map_err(StoreError::from)?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").ok().as_deref(),
            Some("ann@example.com")
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a b@example.com",
            "ann@example..com",
            "ann@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }
}

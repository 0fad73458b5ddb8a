//! E-mail accounts: registration with a password, verification by a short one-time code.
//!
//! The code is short (6 characters from a 31-symbol alphabet ≈ 30 bits) because a person types
//! it, so what keeps it safe is the attempt limits and the expiry, both enforced here in the same
//! transaction that checks the code, and the keyed hash it is stored as ([`OtpSecret`]).
//!
//! The rules, and why:
//! - **One account per mailbox** ([`crate::mailbox`]): `+tags` and Gmail dots do not mint more.
//! - **A pending registration keeps its password.** Re-registering it with the same password sends
//!   a fresh code and resets the attempt counters; with another password nothing changes (the
//!   caller answers exactly as if a code was sent), unless the registration is older than
//!   [`OTP_TTL`], when the newcomer takes it over: a squatter holds a mailbox for 15 minutes
//!   at most, and a takeover only sends the owner's mailbox a new code.
//! - **A verified address** is left alone, with the same answer.
//! - **Wrong tries are counted per client** (IP address or IPv6 /64, stored as a keyed hash):
//!   [`MAX_OTP_ATTEMPTS`] per client and [`MAX_OTP_ATTEMPTS_TOTAL`] for all clients together per
//!   code. One stranger cannot lock the owner's code; many can, and the owner then re-registers
//!   with the same password.
//! - **Only the right code learns anything**: a wrong code, an address with nothing pending, a
//!   locked or expired code all fail alike for a guesser; [`VerifyError::Expired`] and
//!   [`VerifyError::TooManyAttempts`] are returned only for the right code.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use crate::mailbox::{self, Address};
use crate::random::{random_string, OTP_ALPHABET};
use crate::sql::{args, Conn, Finish};
use crate::{
    db, keys, CreatedKey, NewKey, Store, StoreError, VerifyError, MAX_OTP_ATTEMPTS,
    MAX_OTP_ATTEMPTS_TOTAL, MIN_PASSWORD_CHARS, OTP_TTL,
};

/// Length of an e-mail verification code.
pub(crate) const OTP_LEN: usize = 6;
/// Longest password accepted: bounds the hashing work a single request can cause.
const MAX_PASSWORD_BYTES: usize = 1024;

/// A plaintext e-mail verification code, returned once by [`Store::register`] so it can be sent.
/// Only its keyed hash is stored. `Debug` is redacted so it cannot leak through a stray log line.
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

/// What [`Store::register`] did. Both outcomes must look the same to the client, so that a
/// registration does not tell whether the address is pending or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A new code to send: a new account, a pending one re-registered with its own password, or
    /// a stale pending one taken over.
    Code(OtpCode),
    /// Nothing changed and nothing is to be sent: the address is verified, or pending under
    /// another password.
    Unchanged,
}

impl Registration {
    /// The code to send, if any.
    pub fn code(&self) -> Option<&OtpCode> {
        match self {
            Registration::Code(code) => Some(code),
            Registration::Unchanged => None,
        }
    }
}

/// Canonical form of a typed code, so `" abc234 "` and `"ABC234"` hash the same.
fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Whether `password` matches the Argon2 PHC string `stored` (a malformed string never does).
fn password_matches(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// A hash no password matches, checked when there is no stored one, so that every
/// registration costs the same two Argon2 runs (no timing difference between a new, a pending
/// and a verified address).
pub(crate) fn dummy_password_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        // The salt is random; the password is never compared with anything that matters.
        Argon2::default()
            .hash_password(b"facematch timing equaliser")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// The account row a registration looks at.
struct Existing {
    id: String,
    verified: bool,
    password_hash: String,
    created_at: i64,
}

fn find_account(c: &mut dyn Conn, mailbox: &str) -> Result<Option<Existing>, StoreError> {
    c.query_row(
        "SELECT id, verified_at, password_hash, created_at FROM accounts WHERE mailbox = ?1",
        args![mailbox],
        |r| {
            Ok(Existing {
                id: r.get(0)?,
                verified: r.get::<Option<i64>>(1)?.is_some(),
                password_hash: r.get(2)?,
                created_at: r.get(3)?,
            })
        },
    )
}

/// The cheap checks of a registration (the address parses, the password's length), made
/// before any hashing: [`StoreError::Invalid`] with a message safe to show.
pub(crate) fn check_registration(email: &str, password: &str) -> Result<Address, StoreError> {
    let parsed = mailbox::parse(email)?;
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
    Ok(parsed)
}

pub(crate) fn register(
    store: &Store,
    email: &str,
    password: &str,
    now: OffsetDateTime,
) -> Result<Registration, StoreError> {
    let Address { address, mailbox } = check_registration(email, password)?;
    // Argon2 is deliberately slow and memory-hungry: both runs happen without the connection
    // lock, so other requests do not wait for them.
    let password_hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| StoreError::Internal(format!("password hashing failed: {e}")))?
        .to_string();
    let seen = store.run(|c| find_account(c, &mailbox))?;
    let stored_password = seen.as_ref().map(|e| e.password_hash.clone());
    let same_password = password_matches(
        password,
        stored_password.as_deref().unwrap_or(dummy_password_hash()),
    ) && stored_password.is_some();

    let code = random_string(OTP_ALPHABET, OTP_LEN)?;
    let code_hash = store.otp_secret().code_hash(&mailbox, &code);
    let now_n = db::to_nanos(now)?;
    let expires_n = db::to_nanos(now + OTP_TTL)?;
    let stale_before = db::to_nanos(now - OTP_TTL)?;

    let sent = store.write(|c| {
        // Read again in the transaction: the password checked above must still be the stored
        // one.
        let existing = find_account(c, &mailbox)?;
        if existing.as_ref().map(|e| &e.password_hash) != stored_password.as_ref() {
            // Another registration of this mailbox won the race; it stands.
            return Ok(false);
        }
        let account_id = match existing {
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                // ON CONFLICT, not a caught error: a registration of the same mailbox committed
                // since the read above wins (on PostgreSQL an error would end the transaction).
                let inserted = c.execute(
                    "INSERT INTO accounts (id, email, mailbox, password_hash, created_at, \
                     verified_at) VALUES (?1, ?2, ?3, ?4, ?5, NULL) \
                     ON CONFLICT (mailbox) DO NOTHING",
                    args![&id, &address, &mailbox, &password_hash, now_n],
                )?;
                if inserted == 0 {
                    return Ok(false);
                }
                id
            }
            Some(Existing { verified: true, .. }) => return Ok(false),
            Some(Existing { id, .. }) if same_password => id,
            Some(Existing { id, created_at, .. }) if created_at <= stale_before => {
                // Older than a code's lifetime: the newcomer takes the registration over.
                c.execute(
                    "UPDATE accounts SET email = ?2, password_hash = ?3, created_at = ?4 \
                     WHERE id = ?1",
                    args![&id, &address, &password_hash, now_n],
                )?;
                id
            }
            Some(_) => return Ok(false),
        };
        // A new code: the earlier one stops working and every attempt counter starts again.
        c.execute(
            "DELETE FROM email_code_attempts WHERE account_id = ?1",
            args![&account_id],
        )?;
        c.execute(
            "INSERT INTO email_codes (account_id, code_hash, expires_at, attempts) \
             VALUES (?1, ?2, ?3, 0) ON CONFLICT (account_id) DO UPDATE SET \
             code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
            args![&account_id, code_hash.as_slice(), expires_n],
        )?;
        Ok::<_, StoreError>(true)
    })?;
    Ok(if sent {
        Registration::Code(OtpCode(code))
    } else {
        Registration::Unchanged
    })
}

/// The pending code of an account, as read for verification.
struct Pending {
    account_id: String,
    code_hash: Vec<u8>,
    expires_at: i64,
    attempts: i64,
}

pub(crate) fn verify_email(
    store: &Store,
    email: &str,
    code: &str,
    client: &str,
    now: OffsetDateTime,
    signup_credits: i64,
) -> Result<CreatedKey, VerifyError> {
    // A malformed address cannot have a pending code; it is still hashed like any other, so
    // that the answer takes as long.
    let mailbox = mailbox::parse(email).map_or_else(|_| String::new(), |a| a.mailbox);
    let secret = store.otp_secret();
    let computed = secret.code_hash(&mailbox, &normalize_code(code));
    let client = secret.client_hash(client);

    // The spent attempt of a wrong code is committed although the answer is an error.
    store.write_with(|c| verify_in(c, &mailbox, computed, &client, now, signup_credits))?
}

/// [`verify_email`]'s transaction: how it ends (a wrong code's counted attempt is committed,
/// any other refusal writes nothing) and the answer.
fn verify_in(
    c: &mut dyn Conn,
    mailbox: &str,
    computed: [u8; 32],
    client: &[u8; 32],
    now: OffsetDateTime,
    signup_credits: i64,
) -> Result<(Finish, Result<CreatedKey, VerifyError>), StoreError> {
    let now_n = db::to_nanos(now)?;
    let refuse = |e: VerifyError| Ok((Finish::Rollback, Err(e)));
    let pending: Option<Pending> = c.query_row(
        "SELECT a.id, c.code_hash, c.expires_at, c.attempts \
         FROM accounts a JOIN email_codes c ON c.account_id = a.id \
         WHERE a.mailbox = ?1 AND a.verified_at IS NULL",
        args![mailbox],
        |r| {
            Ok(Pending {
                account_id: r.get(0)?,
                code_hash: r.get(1)?,
                expires_at: r.get(2)?,
                attempts: r.get(3)?,
            })
        },
    )?;
    let Some(pending) = pending else {
        // The same constant-time comparison as a real try.
        let _ = db::hash_eq(&computed, &[0u8; 32]);
        return refuse(VerifyError::NoPendingCode);
    };
    let stored_hash = pending.code_hash;
    // Written as the one comparison `db::hash_eq_tests` pins (constant time, no `==`).
    let mut right = true;
    if !db::hash_eq(&computed, &stored_hash) {
        right = false;
    }
    let by_client: i64 = c
        .query_row(
            "SELECT attempts FROM email_code_attempts WHERE account_id = ?1 AND client = ?2",
            args![&pending.account_id, client],
            |r| r.get(0),
        )?
        .unwrap_or(0);
    let by_client = u32::try_from(by_client).unwrap_or(u32::MAX);
    let total = u32::try_from(pending.attempts).unwrap_or(u32::MAX);
    // The limits are checked before the code, so once the tries are used up even the right code
    // is refused: otherwise they would not bound guessing at all.
    if by_client >= MAX_OTP_ATTEMPTS || total >= MAX_OTP_ATTEMPTS_TOTAL {
        return refuse(if right {
            VerifyError::TooManyAttempts
        } else {
            VerifyError::WrongCode { attempts_left: 0 }
        });
    }
    if now_n >= pending.expires_at {
        return refuse(if right {
            VerifyError::Expired
        } else {
            VerifyError::WrongCode { attempts_left: 0 }
        });
    }
    if !right {
        c.execute(
            "INSERT INTO email_code_attempts (account_id, client, attempts) VALUES (?1, ?2, 1) \
             ON CONFLICT (account_id, client) DO UPDATE SET \
             attempts = email_code_attempts.attempts + 1",
            args![&pending.account_id, client],
        )?;
        c.execute(
            "UPDATE email_codes SET attempts = attempts + 1 WHERE account_id = ?1",
            args![&pending.account_id],
        )?;
        // Commit the spent attempt even though the call fails.
        return Ok((
            Finish::Commit,
            Err(VerifyError::WrongCode {
                attempts_left: MAX_OTP_ATTEMPTS - by_client - 1,
            }),
        ));
    }
    let account_id = pending.account_id;
    c.execute(
        "UPDATE accounts SET verified_at = ?2 WHERE id = ?1",
        args![&account_id, now_n],
    )?;
    c.execute(
        "DELETE FROM email_code_attempts WHERE account_id = ?1",
        args![&account_id],
    )?;
    c.execute(
        "DELETE FROM email_codes WHERE account_id = ?1",
        args![&account_id],
    )?;
    // Same transaction: either the account is verified *and* has its key, or neither. The
    // name is cut to the key-name limit on a character boundary (an address may be 254
    // characters long).
    let name: String = format!("signup {mailbox}")
        .chars()
        .take(keys::MAX_NAME_CHARS)
        .collect();
    let created = keys::insert_key(
        c,
        &NewKey {
            name,
            credits: signup_credits,
            admin: false,
            expires_at: None,
            account_id: Some(account_id),
        },
        now,
    )?;
    Ok((Finish::Commit, Ok(created)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_compare_trimmed_and_upper_case() {
        assert_eq!(normalize_code(" abc234 "), "ABC234");
    }
}

#[cfg(test)]
mod migration_tests;

/// A bare account row (no console user, no keys) with this e-mail; returns its id. For the
/// unit tests of other modules (keys, usage) that need an account to own keys.
#[cfg(test)]
pub(crate) fn test_account(store: &crate::Store, email: &str) -> String {
    store
        .run(|c| {
            let id = uuid::Uuid::new_v4().to_string();
            c.execute(
                "INSERT INTO accounts (id, email, mailbox, password_hash, created_at) \
                 VALUES (?1, ?2, ?2, 'x', 0)",
                crate::sql::args![&id, email],
            )?;
            Ok::<_, StoreError>(id)
        })
        .expect("account")
}

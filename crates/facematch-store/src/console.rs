//! The Business Console's users, their signed-in sessions and the one-time tokens sent to them
//! by e-mail (invitation, password reset).
//!
//! - **Users** belong to an account and have a [`Role`]. The account's own e-mail (the one that
//!   registered through the API) signs in as the account's first admin: its console user is made
//!   on its first sign-in, with the account's password.
//! - **Sessions**: the cookie carries a 256-bit random secret; the table keeps only its SHA-256,
//!   so a copy of the database signs nobody in. A session ends after `idle` without a request or
//!   `absolute` after sign-in, whichever comes first ([`SessionLimits`]).
//! - **Throttling**: every [`LOCK_AFTER`] wrong passwords in a row lock the user's sign-in for
//!   [`LOCK_FOR`] (the right password included), counted in the database so that it holds across
//!   replicas; the server adds a per-address limit in front.
//! - **Tokens** (invitation, reset) are 256-bit random, e-mailed once, stored as SHA-256, used
//!   once; redeeming one sets the password and ends the user's other sessions.

use std::fmt;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Argon2, PasswordVerifier as _};
use base64::Engine as _;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use crate::accounts::{check_registration as check_password, dummy_password_hash};
use crate::db;
use crate::mailbox;
use crate::sql::{args, Conn, Row};
use crate::{Store, StoreError};

/// Consecutive wrong passwords that lock a user's sign-in for [`LOCK_FOR`].
pub const LOCK_AFTER: i64 = 5;

/// How long a sign-in stays locked after [`LOCK_AFTER`] wrong passwords.
pub const LOCK_FOR: Duration = Duration::minutes(15);

/// How long an invitation stays valid.
pub const INVITE_TTL: Duration = Duration::hours(72);

/// How long a password-reset token stays valid.
pub const RESET_TTL: Duration = Duration::minutes(30);

/// How often a session's last-seen time is written (not on every page view).
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything: review, keys, webhooks, usage, billing, users.
    Admin,
    /// Manual Checks only: read and review decisions.
    Reviewer,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "reviewer" => Ok(Role::Reviewer),
            other => Err(StoreError::Invalid(format!(
                "role must be \"admin\" or \"reviewer\", got {other:?}"
            ))),
        }
    }
}

/// A console user as read back (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    /// UUID.
    pub id: String,
    /// The account whose decisions, keys and webhooks the user sees.
    pub account_id: String,
    /// Where e-mail goes; shown as the user's name.
    pub email: String,
    /// What the user may do.
    pub role: Role,
    /// Whether a password is set (an invitee has none until the invitation is accepted).
    pub active: bool,
    /// The admin who invited the user, if invited.
    pub invited_by: Option<String>,
    /// When the user was made.
    pub created_at: OffsetDateTime,
}

/// A signed-in session as the server sees it on each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Who is signed in.
    pub user: ConsoleUser,
    /// When they signed in.
    pub created_at: OffsetDateTime,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after sign-in, however active.
    pub absolute: Duration,
}

/// The outcome of a sign-in.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the cookie's secret (shown once) and the user.
    Ok {
        /// The session secret for the cookie.
        token: SecretString,
        /// Who signed in.
        user: ConsoleUser,
    },
    /// Unknown e-mail or wrong password (the two are not told apart).
    Wrong,
    /// Too many wrong passwords: refused, even with the right one, until `until`.
    Locked {
        /// When sign-in opens again.
        until: OffsetDateTime,
    },
}

/// A one-time token's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Sent when an admin invites a user.
    Invite,
    /// Sent when a user asks to reset a forgotten password.
    Reset,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Invite => "invite",
            TokenPurpose::Reset => "reset",
        }
    }
}

/// Where a new console user goes.
#[derive(Debug, Clone, Copy)]
pub enum UserAccount<'a> {
    /// A new, verified account with the user's e-mail and password (bootstrap of a fresh
    /// install: `facematch users create --role admin`).
    New,
    /// The account with this owner e-mail (`facematch users create --account`).
    OwnedBy(&'a str),
}

/// The columns [`user_from_row`] reads, of `console_users` under the alias `u`.
const USER_COLUMNS: &str =
    "u.id, u.account_id, u.email, u.role, u.password_hash IS NOT NULL, u.invited_by, \
     u.created_at";

fn user_from_row(r: &Row) -> Result<ConsoleUser, StoreError> {
    let role: String = r.get(3)?;
    Ok(ConsoleUser {
        id: r.get(0)?,
        account_id: r.get(1)?,
        email: r.get(2)?,
        role: role
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("console user role {role:?}")))?,
        active: r.get(4)?,
        invited_by: r.get(5)?,
        created_at: r.time(6)?,
    })
}

/// A fresh 256-bit secret, base64url without padding (43 characters).
fn new_secret() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Internal(format!("OS random source failed: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn hash_password(password: &str) -> Result<String, StoreError> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| StoreError::Internal(format!("password hashing failed: {e}")))?
        .to_string())
}

fn password_matches(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// A user row with what sign-in checks.
struct Stored {
    user: ConsoleUser,
    password_hash: Option<String>,
    /// Unix nanoseconds.
    locked_until: Option<i64>,
}

fn find_user_by_mailbox(c: &mut dyn Conn, mailbox: &str) -> Result<Option<Stored>, StoreError> {
    c.query_row(
        &format!(
            "SELECT {USER_COLUMNS}, u.password_hash, u.locked_until \
             FROM console_users u WHERE u.mailbox = ?1"
        ),
        args![mailbox],
        |r| {
            Ok(Stored {
                user: user_from_row(r)?,
                password_hash: r.get(7)?,
                locked_until: r.get(8)?,
            })
        },
    )
}

fn find_user(c: &mut dyn Conn, id: &str) -> Result<Option<ConsoleUser>, StoreError> {
    c.query_row(
        &format!("SELECT {USER_COLUMNS} FROM console_users u WHERE u.id = ?1"),
        args![id],
        user_from_row,
    )
}

fn insert_session(
    c: &mut dyn Conn,
    user_id: &str,
    token: &str,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO console_sessions (token_hash, user_id, created_at, last_seen_at) \
         VALUES (?1, ?2, ?3, ?3)",
        args![db::sha256(token).as_slice(), user_id, now],
    )?;
    Ok(())
}

impl Store {
    /// Makes a console user with a password (the CLI's `facematch users create`). With
    /// [`UserAccount::New`] the account is made too (verified: the operator vouches for it).
    pub fn create_console_user(
        &self,
        email: &str,
        password: &str,
        role: Role,
        account: UserAccount<'_>,
        now: OffsetDateTime,
    ) -> Result<ConsoleUser, StoreError> {
        let address = check_password(email, password)?;
        let hash = hash_password(password)?;
        let owner = match account {
            UserAccount::OwnedBy(owner) => Some(mailbox::parse(owner)?.mailbox),
            UserAccount::New => None,
        };
        let now_n = db::to_nanos(now)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.write(|c| {
            let account_id = match &owner {
                Some(owner) => c
                    .query_row(
                        "SELECT id FROM accounts WHERE mailbox = ?1",
                        args![owner],
                        |r| r.get::<String>(0),
                    )?
                    .ok_or_else(|| StoreError::NotFound(format!("account {owner}")))?,
                None => {
                    let account_id = uuid::Uuid::new_v4().to_string();
                    let made = c.execute(
                        "INSERT INTO accounts (id, email, mailbox, password_hash, created_at, \
                         verified_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
                         ON CONFLICT DO NOTHING",
                        args![
                            &account_id,
                            &address.address,
                            &address.mailbox,
                            &hash,
                            now_n
                        ],
                    )?;
                    if made == 0 {
                        return Err(StoreError::Conflict(format!(
                            "an account with the e-mail {} exists: add the user to it with \
                             --account",
                            address.address
                        )));
                    }
                    account_id
                }
            };
            let made = c.execute(
                "INSERT INTO console_users (id, account_id, email, mailbox, role, \
                 password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT DO NOTHING",
                args![
                    &id,
                    &account_id,
                    &address.address,
                    &address.mailbox,
                    role.as_str(),
                    &hash,
                    now_n
                ],
            )?;
            if made == 0 {
                return Err(StoreError::Conflict(format!(
                    "a console user with the e-mail {} exists",
                    address.address
                )));
            }
            find_user(c, &id)?.ok_or_else(|| StoreError::Internal("user just made".into()))
        })
    }

    /// Signs in with e-mail and password. The account's own e-mail signs in as the account's
    /// admin even before it has a console user (one is made, with the account's password).
    /// Every answer costs one Argon2 verification, found or not.
    pub fn sign_in(
        &self,
        email: &str,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<SignIn, StoreError> {
        let Ok(address) = mailbox::parse(email) else {
            password_matches(password, dummy_password_hash());
            return Ok(SignIn::Wrong);
        };
        let now_n = db::to_nanos(now)?;
        let found = self.run(|c| find_user_by_mailbox(c, &address.mailbox))?;
        if let Some(Stored {
            user,
            password_hash: hash,
            locked_until: locked,
        }) = found
        {
            if let Some(until) = locked.filter(|&u| u > now_n) {
                password_matches(password, dummy_password_hash());
                return Ok(SignIn::Locked {
                    until: crate::sql::nanos_to_time(until)?,
                });
            }
            let ok = password_matches(password, hash.as_deref().unwrap_or(dummy_password_hash()))
                && hash.is_some();
            return self.write(|c| {
                if !ok {
                    let lock_until = db::to_nanos(now + LOCK_FOR)?;
                    let locked: Option<Option<i64>> = c.query_row(
                        "UPDATE console_users SET failed_logins = failed_logins + 1, \
                         locked_until = CASE WHEN (failed_logins + 1) % ?2 = 0 THEN ?3 \
                         ELSE locked_until END WHERE id = ?1 RETURNING locked_until",
                        args![&user.id, LOCK_AFTER, lock_until],
                        |r| r.get(0),
                    )?;
                    return Ok(match locked.flatten().filter(|&u| u > now_n) {
                        Some(until) => SignIn::Locked {
                            until: crate::sql::nanos_to_time(until)?,
                        },
                        None => SignIn::Wrong,
                    });
                }
                c.execute(
                    "UPDATE console_users SET failed_logins = 0, locked_until = NULL \
                     WHERE id = ?1",
                    args![&user.id],
                )?;
                let token = new_secret()?;
                insert_session(c, &user.id, &token, now_n)?;
                Ok(SignIn::Ok {
                    token: SecretString::from(token),
                    user: user.clone(),
                })
            });
        }
        // No console user: the account's owner, on a first sign-in.
        let account: Option<(String, String, String)> = self.run(|c| {
            c.query_row(
                "SELECT id, email, password_hash FROM accounts \
                 WHERE mailbox = ?1 AND verified_at IS NOT NULL",
                args![&address.mailbox],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })?;
        let Some((account_id, owner_email, hash)) = account else {
            password_matches(password, dummy_password_hash());
            return Ok(SignIn::Wrong);
        };
        if !password_matches(password, &hash) {
            return Ok(SignIn::Wrong);
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.write(|c| {
            c.execute(
                "INSERT INTO console_users (id, account_id, email, mailbox, role, \
                 password_hash, created_at) VALUES (?1, ?2, ?3, ?4, 'admin', ?5, ?6) \
                 ON CONFLICT DO NOTHING",
                args![
                    &id,
                    &account_id,
                    &owner_email,
                    &address.mailbox,
                    &hash,
                    now_n
                ],
            )?;
            // The row may be another sign-in's, made meanwhile: read whichever stands.
            let Some(Stored {
                user,
                password_hash: stored,
                ..
            }) = find_user_by_mailbox(c, &address.mailbox)?
            else {
                return Ok(SignIn::Wrong);
            };
            if stored.as_deref() != Some(hash.as_str()) {
                return Ok(SignIn::Wrong);
            }
            let token = new_secret()?;
            insert_session(c, &user.id, &token, now_n)?;
            Ok(SignIn::Ok {
                token: SecretString::from(token),
                user,
            })
        })
    }

    /// The session of a cookie's secret, if it exists and has not expired under `limits`;
    /// its last-seen time is moved to `now` (written at most once a minute). An expired
    /// session is deleted.
    pub fn console_session(
        &self,
        token: &str,
        limits: SessionLimits,
        now: OffsetDateTime,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let hash = db::sha256(token);
        // The session and its user in one read (every console page asks).
        let found: Option<(ConsoleUser, i64, i64)> = self.run(|c| {
            c.query_row(
                &format!(
                    "SELECT {USER_COLUMNS}, s.created_at, s.last_seen_at \
                     FROM console_sessions s JOIN console_users u ON u.id = s.user_id \
                     WHERE s.token_hash = ?1"
                ),
                args![hash.as_slice()],
                |r| Ok((user_from_row(r)?, r.get(7)?, r.get(8)?)),
            )
        })?;
        let Some((user, created, seen)) = found else {
            return Ok(None);
        };
        let created_at = crate::sql::nanos_to_time(created)?;
        let seen_at = crate::sql::nanos_to_time(seen)?;
        if now - seen_at > limits.idle || now - created_at > limits.absolute {
            self.write(|c| {
                c.execute(
                    "DELETE FROM console_sessions WHERE token_hash = ?1",
                    args![hash.as_slice()],
                )
            })?;
            return Ok(None);
        }
        if now - seen_at > TOUCH_EVERY {
            let now_n = db::to_nanos(now)?;
            self.write(|c| {
                c.execute(
                    "UPDATE console_sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
                    args![hash.as_slice(), now_n],
                )
            })?;
        }
        Ok(Some(ConsoleSession { user, created_at }))
    }

    /// Ends the session of a cookie's secret (sign-out). Unknown secrets are ignored.
    pub fn end_console_session(&self, token: &str) -> Result<(), StoreError> {
        let hash = db::sha256(token);
        self.write(|c| {
            c.execute(
                "DELETE FROM console_sessions WHERE token_hash = ?1",
                args![hash.as_slice()],
            )
        })?;
        Ok(())
    }

    /// Changes a signed-in user's password after checking the current one; the user's other
    /// sessions end (`keep` stays signed in). `Ok(false)`: the current password was wrong.
    pub fn change_console_password(
        &self,
        user_id: &str,
        current: &str,
        new: &str,
        keep: &str,
    ) -> Result<bool, StoreError> {
        check_new_password(new)?;
        let stored: Option<Option<String>> = self.run(|c| {
            c.query_row(
                "SELECT password_hash FROM console_users WHERE id = ?1",
                args![user_id],
                |r| r.get(0),
            )
        })?;
        let Some(Some(stored)) = stored else {
            return Ok(false);
        };
        if !password_matches(current, &stored) {
            return Ok(false);
        }
        let hash = hash_password(new)?;
        let keep = db::sha256(keep);
        self.write(|c| {
            c.execute(
                "UPDATE console_users SET password_hash = ?2 WHERE id = ?1",
                args![user_id, &hash],
            )?;
            c.execute(
                "DELETE FROM console_sessions WHERE user_id = ?1 AND token_hash <> ?2",
                args![user_id, keep.as_slice()],
            )?;
            Ok(true)
        })
    }

    /// Invites `email` into `account_id` with `role`: the user is made without a password and
    /// a one-time token (valid [`INVITE_TTL`]) is returned for the e-mail. Inviting someone who
    /// is already a user is a conflict.
    pub fn invite_console_user(
        &self,
        account_id: &str,
        email: &str,
        role: Role,
        invited_by: &str,
        now: OffsetDateTime,
    ) -> Result<(ConsoleUser, SecretString), StoreError> {
        let address = mailbox::parse(email)?;
        let now_n = db::to_nanos(now)?;
        let expires = db::to_nanos(now + INVITE_TTL)?;
        let id = uuid::Uuid::new_v4().to_string();
        let token = new_secret()?;
        let user = self.write(|c| {
            let made = c.execute(
                "INSERT INTO console_users (id, account_id, email, mailbox, role, \
                 invited_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT DO NOTHING",
                args![
                    &id,
                    account_id,
                    &address.address,
                    &address.mailbox,
                    role.as_str(),
                    invited_by,
                    now_n
                ],
            )?;
            if made == 0 {
                return Err(StoreError::Conflict(format!(
                    "{} is already a console user",
                    address.address
                )));
            }
            c.execute(
                "INSERT INTO console_tokens (token_hash, user_id, purpose, expires_at) \
                 VALUES (?1, ?2, 'invite', ?3)",
                args![db::sha256(&token).as_slice(), &id, expires],
            )?;
            find_user(c, &id)?.ok_or_else(|| StoreError::Internal("user just made".into()))
        })?;
        Ok((user, SecretString::from(token)))
    }

    /// A password-reset token (valid [`RESET_TTL`]) for the user with `email`, or `None` when
    /// there is no such user (the caller answers the same either way). Earlier reset tokens of
    /// the user stop working.
    pub fn request_password_reset(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(ConsoleUser, SecretString)>, StoreError> {
        let Ok(address) = mailbox::parse(email) else {
            return Ok(None);
        };
        let expires = db::to_nanos(now + RESET_TTL)?;
        let token = new_secret()?;
        let user = self.write(|c| {
            let Some(Stored { user, .. }) = find_user_by_mailbox(c, &address.mailbox)? else {
                return Ok(None);
            };
            c.execute(
                "DELETE FROM console_tokens WHERE user_id = ?1 AND purpose = 'reset'",
                args![&user.id],
            )?;
            c.execute(
                "INSERT INTO console_tokens (token_hash, user_id, purpose, expires_at) \
                 VALUES (?1, ?2, 'reset', ?3)",
                args![db::sha256(&token).as_slice(), &user.id, expires],
            )?;
            Ok::<_, StoreError>(Some(user))
        })?;
        Ok(user.map(|u| (u, SecretString::from(token))))
    }

    /// The user a live token of `purpose` belongs to (to greet them before they choose a
    /// password), without using it up.
    pub fn console_token_user(
        &self,
        token: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        let hash = db::sha256(token);
        let now_n = db::to_nanos(now)?;
        self.run(|c| {
            let user_id: Option<String> = c.query_row(
                "SELECT user_id FROM console_tokens WHERE token_hash = ?1 AND purpose = ?2 \
                 AND expires_at > ?3",
                args![hash.as_slice(), purpose.as_str(), now_n],
                |r| r.get(0),
            )?;
            match user_id {
                Some(id) => find_user(c, &id),
                None => Ok(None),
            }
        })
    }

    /// Uses a token of `purpose` up: sets the user's password, clears its sign-in lock, ends
    /// its sessions and every other token of the same purpose. `None`: unknown, used or
    /// expired token.
    pub fn redeem_console_token(
        &self,
        token: &str,
        purpose: TokenPurpose,
        new_password: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        check_new_password(new_password)?;
        let hash = hash_password(new_password)?;
        let token_hash = db::sha256(token);
        let now_n = db::to_nanos(now)?;
        self.write(|c| {
            let user_id: Option<String> = c.query_row(
                "DELETE FROM console_tokens WHERE token_hash = ?1 AND purpose = ?2 \
                 AND expires_at > ?3 RETURNING user_id",
                args![token_hash.as_slice(), purpose.as_str(), now_n],
                |r| r.get(0),
            )?;
            let Some(user_id) = user_id else {
                return Ok(None);
            };
            c.execute(
                "UPDATE console_users SET password_hash = ?2, failed_logins = 0, \
                 locked_until = NULL WHERE id = ?1",
                args![&user_id, &hash],
            )?;
            c.execute(
                "DELETE FROM console_tokens WHERE user_id = ?1 AND purpose = ?2",
                args![&user_id, purpose.as_str()],
            )?;
            c.execute(
                "DELETE FROM console_sessions WHERE user_id = ?1",
                args![&user_id],
            )?;
            find_user(c, &user_id)
        })
    }

    /// The console users of an account, oldest first.
    pub fn list_console_users(&self, account_id: &str) -> Result<Vec<ConsoleUser>, StoreError> {
        self.run(|c| {
            c.query_map(
                &format!(
                    "SELECT {USER_COLUMNS} FROM console_users u WHERE u.account_id = ?1 \
                     ORDER BY created_at, id"
                ),
                args![account_id],
                user_from_row,
            )
        })
    }

    /// Removes a user of `account_id` (their sessions end). `false`: no such user in that
    /// account.
    pub fn remove_console_user(&self, account_id: &str, user_id: &str) -> Result<bool, StoreError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM console_users WHERE id = ?1 AND account_id = ?2",
                args![user_id, account_id],
            )
        })
        .map(|n| n > 0)
    }

    /// Deletes the sessions that have expired under `limits` and the e-mailed tokens past
    /// their time (the retention sweep calls it); returns how many rows went.
    pub fn purge_console_sessions(
        &self,
        limits: SessionLimits,
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let idle_before = db::to_nanos(now - limits.idle)?;
        let made_before = db::to_nanos(now - limits.absolute)?;
        let now_n = db::to_nanos(now)?;
        self.write(|c| {
            let sessions = c.execute(
                "DELETE FROM console_sessions WHERE last_seen_at < ?1 OR created_at < ?2",
                args![idle_before, made_before],
            )?;
            let tokens = c.execute(
                "DELETE FROM console_tokens WHERE expires_at <= ?1",
                args![now_n],
            )?;
            Ok(sessions + tokens)
        })
    }

    /// The id of the account whose owner has this e-mail (any spelling of the mailbox).
    pub fn account_id_by_email(&self, email: &str) -> Result<Option<String>, StoreError> {
        let Ok(address) = mailbox::parse(email) else {
            return Ok(None);
        };
        self.run(|c| {
            c.query_row(
                "SELECT id FROM accounts WHERE mailbox = ?1",
                args![&address.mailbox],
                |r| r.get(0),
            )
        })
    }

    /// The console user with this e-mail, if any (the CLI's `users list` and tests).
    pub fn console_user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>, StoreError> {
        let Ok(address) = mailbox::parse(email) else {
            return Ok(None);
        };
        self.run(|c| Ok(find_user_by_mailbox(c, &address.mailbox)?.map(|f| f.user)))
    }
}

/// Length limits of a new password ([`crate::MIN_PASSWORD_CHARS`] and the hashing cap).
fn check_new_password(password: &str) -> Result<(), StoreError> {
    check_password("placeholder@example.com", password).map(|_| ())
}

/// Whether a token string has the shape of one this module makes (so that junk is refused
/// before hashing): 43 base64url characters.
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;

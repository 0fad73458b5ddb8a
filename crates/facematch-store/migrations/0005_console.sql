-- Issue 12: the Business Console — its users and their sessions, e-mailed invitation and
-- password-reset tokens, the reviewer of each status change, review images (sealed),
-- and per-day usage counters. The same tables as migrations/postgres/0005_console.sql.

-- When a key last made a face match (to the minute), for the console's key list.
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;

-- Who made a status change: the console user's e-mail; NULL for a change made with an API key.
ALTER TABLE decision_history ADD COLUMN reviewer TEXT;

-- Console users of an account. The account's own e-mail signs in as its first admin.
CREATE TABLE console_users (
    id            TEXT PRIMARY KEY,                 -- UUID v4
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,                    -- as typed (trimmed, lower-cased)
    mailbox       TEXT NOT NULL UNIQUE,             -- normalised (mailbox.rs): one user per mailbox
    role          TEXT NOT NULL CHECK (role IN ('admin', 'reviewer')),
    password_hash TEXT,                             -- Argon2id PHC; NULL until an invitee sets one
    failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until  INTEGER,                          -- sign-in refused before this (after failures)
    invited_by    TEXT,                             -- e-mail of the admin who invited
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX console_users_account ON console_users (account_id);

-- Signed-in sessions: the cookie holds a random secret, the table only its SHA-256.
CREATE TABLE console_sessions (
    token_hash   BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,                  -- absolute expiry counts from here
    last_seen_at INTEGER NOT NULL                   -- idle expiry counts from here
) STRICT;
CREATE INDEX console_sessions_user ON console_sessions (user_id);

-- One-time tokens sent by e-mail (invitation, password reset): SHA-256 only.
CREATE TABLE console_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX console_tokens_user ON console_tokens (user_id);

-- The two uploads of a saved decision, kept for its reviewer only with --review-images:
-- AES-256-GCM (12-byte nonce || ciphertext), never plaintext. Deleted on review, at
-- expires_at, and with the decision.
CREATE TABLE review_images (
    request_id TEXT PRIMARY KEY REFERENCES decisions(request_id) ON DELETE CASCADE,
    source     BLOB NOT NULL,
    target     BLOB NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX review_images_expires ON review_images (expires_at);

-- Face matches per key and UTC day (saved or not), by outcome and latency bucket (ms).
CREATE TABLE usage_daily (
    key_id     TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day        INTEGER NOT NULL,                    -- days since 1970-01-01 (UTC)
    matches    INTEGER NOT NULL DEFAULT 0,
    approved   INTEGER NOT NULL DEFAULT 0,
    declined   INTEGER NOT NULL DEFAULT 0,
    in_review  INTEGER NOT NULL DEFAULT 0,
    lat_50     INTEGER NOT NULL DEFAULT 0,
    lat_100    INTEGER NOT NULL DEFAULT 0,
    lat_200    INTEGER NOT NULL DEFAULT 0,
    lat_400    INTEGER NOT NULL DEFAULT 0,
    lat_800    INTEGER NOT NULL DEFAULT 0,
    lat_1600   INTEGER NOT NULL DEFAULT 0,
    lat_more   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
) STRICT;

-- The console's Manual Checks filter on vendor_data and page newest first across keys.
CREATE INDEX decisions_vendor_data ON decisions (vendor_data);
CREATE INDEX decisions_created_request ON decisions (created_at, request_id);
CREATE INDEX decisions_status_created ON decisions (status, created_at, request_id);

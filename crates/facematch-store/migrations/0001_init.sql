-- Initial schema. Times are INTEGER Unix nanoseconds (UTC) so they sort and compare in SQL.
-- Secrets are never stored: keys and e-mail codes as SHA-256 (BLOB), passwords as Argon2 PHC strings.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,          -- UUID v4
    email         TEXT NOT NULL UNIQUE,      -- trimmed, lower-cased
    password_hash TEXT NOT NULL,             -- Argon2id PHC string
    created_at    INTEGER NOT NULL,
    verified_at   INTEGER                    -- NULL while the e-mail is unverified
) STRICT;

-- At most one live code per account; re-registering replaces it.
CREATE TABLE email_codes (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,                -- SHA-256 of the upper-case code
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0)
) STRICT;

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,             -- UUID v4
    prefix     TEXT NOT NULL UNIQUE,         -- public 8-char part of the key, for lookup and listing
    key_hash   BLOB NOT NULL UNIQUE,         -- SHA-256 of the whole key
    name       TEXT NOT NULL,
    admin      INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    -- The CHECK is a second line of defence behind the conditional UPDATE in reserve_credit.
    credits    INTEGER NOT NULL DEFAULT 0 CHECK (credits >= 0),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    account_id TEXT REFERENCES accounts(id) ON DELETE SET NULL
) STRICT;

CREATE TABLE decisions (
    request_id        TEXT PRIMARY KEY,
    key_id            TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('Approved', 'Declined', 'In Review')),
    score             INTEGER,
    decline_threshold REAL NOT NULL,
    review_threshold  REAL,
    warnings          TEXT NOT NULL,         -- JSON
    face_match        TEXT NOT NULL,         -- JSON: the face_match object as returned
    vendor_data       TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- Serves both get_decision (by key) and the review queue (status, oldest first).
CREATE INDEX decisions_key_status_created ON decisions (key_id, status, created_at);

CREATE TABLE decision_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order = history order
    request_id  TEXT NOT NULL REFERENCES decisions(request_id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    comment     TEXT,
    at          INTEGER NOT NULL
) STRICT;

CREATE INDEX decision_history_request ON decision_history (request_id, id);

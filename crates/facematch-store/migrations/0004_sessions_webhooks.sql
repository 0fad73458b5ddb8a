-- Issue 11: the session API in Didit's shapes and signed webhooks delivered from an outbox.

-- A saved decision's `metadata` (the JSON object sent with the face match, NULL when none)
-- and its session number: per key 1, 2, 3, … in the order saved, never reused (Didit's
-- human-friendly counter; its batch delete names sessions by it).
ALTER TABLE decisions ADD COLUMN metadata TEXT;
ALTER TABLE decisions ADD COLUMN session_number INTEGER;
ALTER TABLE api_keys ADD COLUMN sessions_made INTEGER NOT NULL DEFAULT 0 CHECK (sessions_made >= 0);

UPDATE decisions SET session_number = numbered.n
FROM (SELECT request_id,
             row_number() OVER (PARTITION BY key_id ORDER BY created_at, request_id) AS n
      FROM decisions) AS numbered
WHERE decisions.request_id = numbered.request_id;

UPDATE api_keys SET sessions_made =
    (SELECT count(*) FROM decisions WHERE decisions.key_id = api_keys.id);

CREATE UNIQUE INDEX decisions_key_session_number ON decisions (key_id, session_number);
-- Listing a key's sessions newest first, with or without a date window.
CREATE INDEX decisions_key_created ON decisions (key_id, created_at);

-- Where events go. A destination made by a key of an account receives the events of every
-- key of that account (account_id set); one made by a key without an account, that key's.
CREATE TABLE webhook_destinations (
    id                TEXT PRIMARY KEY,                -- UUID v4
    key_id            TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    account_id        TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    label             TEXT NOT NULL,
    url               TEXT NOT NULL,
    subscribed_events TEXT NOT NULL,                   -- JSON array of event names
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    secret_sealed     BLOB NOT NULL,                   -- AES-256-GCM: 12-byte nonce || ciphertext
    backoff_until     INTEGER,                         -- after a failure, nothing is sent before
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_destinations_key ON webhook_destinations (key_id);
CREATE INDEX webhook_destinations_account ON webhook_destinations (account_id);

-- The outbox: one row per event, written in the same transaction as the change it reports.
CREATE TABLE webhook_events (
    id           TEXT PRIMARY KEY,                     -- event_id: the same on every retry and resend
    key_id       TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    request_id   TEXT REFERENCES decisions(request_id) ON DELETE CASCADE,  -- NULL: a test event
    webhook_type TEXT NOT NULL,
    snapshot     TEXT NOT NULL,                        -- JSON: the decision as it was then
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_events_request ON webhook_events (request_id);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

-- One row per (event, destination): what is still to be sent, and when.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,                  -- UUID v4
    event_id        TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    destination_id  TEXT NOT NULL REFERENCES webhook_destinations(id) ON DELETE CASCADE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER,                           -- while pending: due time, or the lease of a try in flight
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (event_id, destination_id)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_destination ON webhook_deliveries (destination_id);

-- The delivery log: every try, automatic or resent, with what was sent and what came back.
CREATE TABLE webhook_attempts (
    id               TEXT PRIMARY KEY,                 -- UUID v4: the delivery record's uuid
    delivery_id      TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    request_url      TEXT NOT NULL,
    request_headers  TEXT NOT NULL,                    -- JSON object; never the secret
    request_body     TEXT NOT NULL,
    response_status  INTEGER,
    response_body    TEXT,                             -- at most the first 1 KiB
    response_time_ms INTEGER,
    error            TEXT,
    next_try_at      INTEGER,                          -- the automatic retry this try scheduled, if any
    resend           INTEGER NOT NULL DEFAULT 0 CHECK (resend IN (0, 1)),
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, created_at);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id);

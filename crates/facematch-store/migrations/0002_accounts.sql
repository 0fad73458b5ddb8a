-- One account per mailbox, codes keyed by the server's secret, and attempts counted per client.
--
-- accounts.mailbox: the normalised address (see facematch-store/src/mailbox.rs): a `+tag` cut
-- from the local part; for gmail.com/googlemail.com the local part's dots removed and the domain
-- gmail.com. Unique: a second spelling of a mailbox finds the first account. Existing rows get
-- the same form computed here; where two old spellings share a mailbox, a verified account keeps
-- it and the other keeps its own address (its key works as before).
--
-- email_codes.code_hash is now HMAC-SHA256(server OTP secret, mailbox, code): codes issued before
-- this migration (plain SHA-256) no longer verify and expire within 15 minutes.
-- email_codes.attempts now counts the wrong tries of every client together.

CREATE TEMP TABLE mailbox_backfill AS
    SELECT id,
           substr(email, 1, instr(email, '@') - 1) AS local,
           substr(email, instr(email, '@') + 1) AS domain
    FROM accounts;
UPDATE mailbox_backfill SET local = substr(local, 1, instr(local, '+') - 1)
    WHERE instr(local, '+') > 1;
UPDATE mailbox_backfill SET local = replace(local, '.', '')
    WHERE domain IN ('gmail.com', 'googlemail.com') AND replace(local, '.', '') <> '';
UPDATE mailbox_backfill SET domain = 'gmail.com' WHERE domain = 'googlemail.com';

ALTER TABLE accounts ADD COLUMN mailbox TEXT;   -- NULL never written by the application
CREATE UNIQUE INDEX accounts_mailbox ON accounts (mailbox);

UPDATE OR IGNORE accounts
    SET mailbox = (SELECT local || '@' || domain FROM mailbox_backfill b WHERE b.id = accounts.id)
    WHERE verified_at IS NOT NULL;
UPDATE OR IGNORE accounts
    SET mailbox = (SELECT local || '@' || domain FROM mailbox_backfill b WHERE b.id = accounts.id)
    WHERE mailbox IS NULL;
UPDATE OR IGNORE accounts SET mailbox = email WHERE mailbox IS NULL;
UPDATE accounts SET mailbox = 'legacy:' || id WHERE mailbox IS NULL;
DROP TABLE mailbox_backfill;

-- Wrong tries at the live code, per client (HMAC of its IP address or IPv6 /64, never the
-- address itself): one client's guesses cannot use up another's tries. Deleted with the code.
CREATE TABLE email_code_attempts (
    account_id TEXT NOT NULL REFERENCES email_codes(account_id) ON DELETE CASCADE,
    client     BLOB NOT NULL,
    attempts   INTEGER NOT NULL CHECK (attempts >= 0),
    PRIMARY KEY (account_id, client)
) STRICT;

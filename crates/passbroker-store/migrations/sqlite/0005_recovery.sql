-- passbroker schema v5 (SQLite): password recovery by emailed code, and the outbound mail
-- queue.

-- One row per "forgot password" start, whether or not the user exists (no enumeration):
-- `identity_id` is NULL for an unknown user or one without an email address, and its code
-- was never sent. `id_hash` is the SHA-256 of the flow's random token (held by the browser
-- only); `code_hash` is SHA-256 over that token and the code, so a copy of the database can
-- neither read nor brute-force a code.
CREATE TABLE reset_codes (
    id_hash         TEXT PRIMARY KEY,
    identity_id     TEXT REFERENCES identities (id) ON DELETE CASCADE,
    user_hash       TEXT NOT NULL,
    code_hash       BLOB NOT NULL,
    created         INTEGER NOT NULL,
    expires         INTEGER NOT NULL,
    used            INTEGER,
    failed_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reset_codes_expires ON reset_codes (expires);

-- Mail waiting to be sent. The whole message (recipient, subject, text) is wrapped under the
-- master key: codes never sit in the database in clear. A row whose message has no recipient
-- is a no-op queued so that unknown users cost the same work; the sender drops it.
CREATE TABLE outbound_mail (
    id              TEXT PRIMARY KEY,
    wrapped         BLOB NOT NULL,
    created         INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX outbound_mail_due ON outbound_mail (next_attempt_at);

-- passbroker schema v4 (PostgreSQL): password recovery by emailed code, and the outbound mail
-- queue (mirrors SQLite's 0005).

-- One row per "forgot password" start, whether or not the user exists (no enumeration):
-- `identity_id` is NULL for an unknown user or one without an email address, and its code
-- was never sent. `id_hash` is the SHA-256 of the flow's random token (held by the browser
-- only); `code_hash` is SHA-256 over that token and the code.
CREATE TABLE reset_codes (
    id_hash         TEXT COLLATE "C" PRIMARY KEY,
    identity_id     TEXT COLLATE "C" CONSTRAINT reset_codes_identity_fk REFERENCES identities (id) ON DELETE CASCADE,
    user_hash       TEXT COLLATE "C" NOT NULL,
    code_hash       BYTEA NOT NULL,
    created         BIGINT NOT NULL,
    expires         BIGINT NOT NULL,
    used            BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX reset_codes_expires ON reset_codes (expires);

-- Mail waiting to be sent, wrapped under the master key (recipient, subject, text). A row
-- whose message has no recipient is a no-op the sender drops.
CREATE TABLE outbound_mail (
    id              TEXT COLLATE "C" PRIMARY KEY,
    wrapped         BYTEA NOT NULL,
    created         BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX outbound_mail_due ON outbound_mail (next_attempt_at);

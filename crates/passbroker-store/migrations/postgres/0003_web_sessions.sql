-- passbroker schema v2 (PostgreSQL): browser sessions of the Password Manager page, and the
-- look-up of an account's last password change (mirrors SQLite's 0003).

-- Only the SHA-256 of the session cookie's token is stored. A session ends at `expires`
-- (absolute) or when unused for the configured idle time after `last_seen`; sign-out
-- deletes the row.
CREATE TABLE web_sessions (
    id_hash     TEXT COLLATE "C" PRIMARY KEY,
    identity_id TEXT COLLATE "C" NOT NULL CONSTRAINT web_sessions_identity_fk REFERENCES identities (id) ON DELETE CASCADE,
    created     BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    expires     BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires);

-- Task ids are time-ordered: the highest id of an account is its latest change.
CREATE INDEX tasks_account ON tasks (account_ref, id);

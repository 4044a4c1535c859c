-- passbroker schema v3 (SQLite): browser sessions of the Password Manager page, and the
-- look-up of an account's last password change.

-- Only the SHA-256 of the session cookie's token is stored. A session ends at `expires`
-- (absolute) or when unused for the configured idle time after `last_seen`; sign-out
-- deletes the row.
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    created     INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires     INTEGER NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires);

-- Task ids are time-ordered: the highest id of an account is its latest change.
CREATE INDEX tasks_account ON tasks (account_ref, id);

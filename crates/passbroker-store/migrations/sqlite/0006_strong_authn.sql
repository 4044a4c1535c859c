-- passbroker schema v6 (SQLite): strong authentication on the Password Manager page.

-- One authenticator (TOTP, RFC 6238) per identity. The secret is wrapped under the master key;
-- `confirmed` is NULL until the person proved a first code; `last_step` is the last 30-second
-- step accepted, so a code is never accepted twice.
CREATE TABLE totp_factors (
    identity_id    TEXT PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    wrapped_secret BLOB NOT NULL,
    created        INTEGER NOT NULL,
    confirmed      INTEGER,
    last_step      INTEGER NOT NULL DEFAULT 0
);

-- One-time recovery codes of an authenticator, stored as SHA-256 (random, 10 characters of
-- 32: not guessable within the guessing limits).
CREATE TABLE totp_recovery_codes (
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used        INTEGER,
    PRIMARY KEY (identity_id, code_hash)
);

-- A page session that passed strong authentication, and when.
CREATE TABLE web_session_factors (
    id_hash  TEXT PRIMARY KEY REFERENCES web_sessions (id_hash) ON DELETE CASCADE,
    verified INTEGER NOT NULL
);

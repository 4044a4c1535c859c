-- passbroker schema v2 (SQLite): digit tokens and custom password instructions.

-- One-time digit tokens for password resets. Only a salted SHA-256 of the token is kept;
-- a token is live while `used` is NULL, `expires` is in the future and it has had fewer
-- than the allowed failed redemption attempts.
CREATE TABLE digit_tokens (
    id              TEXT PRIMARY KEY,
    identity_id     TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    salt            BLOB NOT NULL,
    hash            BLOB NOT NULL,
    created         INTEGER NOT NULL,
    expires         INTEGER NOT NULL,
    used            INTEGER,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL
);
CREATE INDEX digit_tokens_identity ON digit_tokens (identity_id, expires);

-- ISC's custom password instructions: one text per login/recovery page and locale.
CREATE TABLE custom_password_instructions (
    page_id  TEXT NOT NULL,
    locale   TEXT NOT NULL,
    content  TEXT NOT NULL,
    modified INTEGER NOT NULL,
    PRIMARY KEY (page_id, locale)
);

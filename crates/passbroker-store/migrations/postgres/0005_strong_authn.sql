-- passbroker schema v5 (PostgreSQL): strong authentication on the Password Manager page
-- (mirrors SQLite's 0006).

CREATE TABLE totp_factors (
    identity_id    TEXT COLLATE "C" PRIMARY KEY CONSTRAINT totp_factors_identity_fk REFERENCES identities (id) ON DELETE CASCADE,
    wrapped_secret BYTEA NOT NULL,
    created        BIGINT NOT NULL,
    confirmed      BIGINT,
    last_step      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE totp_recovery_codes (
    identity_id TEXT COLLATE "C" NOT NULL CONSTRAINT totp_recovery_codes_identity_fk REFERENCES identities (id) ON DELETE CASCADE,
    code_hash   TEXT COLLATE "C" NOT NULL,
    used        BIGINT,
    PRIMARY KEY (identity_id, code_hash)
);

CREATE TABLE web_session_factors (
    id_hash  TEXT COLLATE "C" PRIMARY KEY CONSTRAINT web_session_factors_session_fk REFERENCES web_sessions (id_hash) ON DELETE CASCADE,
    verified BIGINT NOT NULL
);

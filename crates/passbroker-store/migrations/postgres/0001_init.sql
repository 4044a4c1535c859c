-- passbroker schema v1 (PostgreSQL). The same tables and columns as the SQLite schema
-- (migrations/sqlite), so `passbroker migrate --from sqlite://… --to postgres://…` copies
-- column by column. Times are Unix milliseconds (BIGINT); flags are BOOLEAN; JSON columns
-- hold small maps/lists as TEXT. Keys and ordered names use the "C" collation so lists sort
-- byte-wise, as on SQLite. Constraints are named: the store maps their names to messages.

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE identities (
    id           TEXT COLLATE "C" PRIMARY KEY,
    login_name   TEXT COLLATE "C" NOT NULL,
    display_name TEXT NOT NULL,
    email        TEXT COLLATE "C",
    attributes   TEXT NOT NULL DEFAULT '{}',
    user_level   TEXT NOT NULL,
    active       BOOLEAN NOT NULL DEFAULT TRUE
);
-- Login names are unique case-insensitively (SQLite: COLLATE NOCASE).
CREATE UNIQUE INDEX identities_login ON identities (lower(login_name));

CREATE TABLE password_policies (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL CONSTRAINT password_policies_name UNIQUE,
    body       TEXT NOT NULL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created    BIGINT NOT NULL,
    modified   BIGINT NOT NULL
);

CREATE TABLE sources (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    features           TEXT NOT NULL DEFAULT '[]',
    connector          TEXT NOT NULL,
    connector_config   TEXT NOT NULL DEFAULT '{}',
    wrapped_secrets    BYTEA,
    owner              TEXT COLLATE "C" CONSTRAINT sources_owner_fk REFERENCES identities (id) ON DELETE SET NULL,
    password_policy_id TEXT COLLATE "C" CONSTRAINT sources_policy_fk REFERENCES password_policies (id) ON DELETE SET NULL,
    delivery           TEXT NOT NULL DEFAULT '{}',
    created            BIGINT NOT NULL,
    modified           BIGINT NOT NULL
);
CREATE UNIQUE INDEX sources_name ON sources (name);
CREATE INDEX sources_policy ON sources (password_policy_id);

CREATE TABLE accounts (
    id           TEXT COLLATE "C" PRIMARY KEY,
    source_id    TEXT COLLATE "C" NOT NULL CONSTRAINT accounts_source_fk REFERENCES sources (id) ON DELETE CASCADE,
    identity_id  TEXT COLLATE "C" NOT NULL CONSTRAINT accounts_identity_fk REFERENCES identities (id) ON DELETE CASCADE,
    native_id    TEXT COLLATE "C" NOT NULL,
    account_name TEXT COLLATE "C" NOT NULL,
    attributes   TEXT NOT NULL DEFAULT '{}',
    disabled     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX accounts_native ON accounts (source_id, native_id);
CREATE INDEX accounts_identity ON accounts (identity_id, source_id);

CREATE TABLE sync_groups (
    id        TEXT COLLATE "C" PRIMARY KEY,
    name      TEXT COLLATE "C" NOT NULL CONSTRAINT sync_groups_name UNIQUE,
    policy_id TEXT COLLATE "C" NOT NULL CONSTRAINT sync_groups_policy_fk REFERENCES password_policies (id),
    created   BIGINT NOT NULL,
    modified  BIGINT NOT NULL
);
CREATE TABLE sync_group_sources (
    group_id  TEXT COLLATE "C" NOT NULL CONSTRAINT sync_group_sources_group_fk REFERENCES sync_groups (id) ON DELETE CASCADE,
    source_id TEXT COLLATE "C" NOT NULL CONSTRAINT sync_group_sources_source UNIQUE
              CONSTRAINT sync_group_sources_source_fk REFERENCES sources (id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    PRIMARY KEY (group_id, source_id)
);

CREATE TABLE api_clients (
    client_id     TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   TEXT,
    scopes        TEXT NOT NULL,
    grant_types   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    created       BIGINT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE personal_access_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    owner       TEXT COLLATE "C" NOT NULL CONSTRAINT pats_owner_fk REFERENCES identities (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created     BIGINT NOT NULL,
    last_used   BIGINT,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX pats_owner ON personal_access_tokens (owner);

CREATE TABLE rsa_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    bits            BIGINT NOT NULL,
    state           TEXT NOT NULL,
    public_der      BYTEA NOT NULL,
    wrapped_private BYTEA,
    created         BIGINT NOT NULL,
    deactivated     BIGINT,
    retired         BIGINT
);

CREATE TABLE signing_keys (
    kid             TEXT COLLATE "C" PRIMARY KEY,
    state           TEXT NOT NULL,
    public_raw      BYTEA NOT NULL,
    wrapped_private BYTEA,
    created         BIGINT NOT NULL,
    deactivated     BIGINT
);

CREATE TABLE requests (
    id              TEXT COLLATE "C" PRIMARY KEY,
    identity_id     TEXT COLLATE "C" NOT NULL,
    requested_by    TEXT NOT NULL,
    source_id       TEXT COLLATE "C" NOT NULL,
    account_ref     TEXT COLLATE "C" NOT NULL,
    public_key_id   TEXT NOT NULL,
    encryption      TEXT NOT NULL,
    ciphertext      BYTEA,
    state           TEXT NOT NULL,
    errors          TEXT NOT NULL DEFAULT '[]',
    validated       BOOLEAN NOT NULL DEFAULT FALSE,
    created         BIGINT NOT NULL,
    deadline        BIGINT NOT NULL,
    finished        BIGINT,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    idempotency_key TEXT COLLATE "C"
);
-- Idempotency holds across nodes: the key is unique among the requests that hold one.
CREATE UNIQUE INDEX requests_idempotency ON requests (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The queue: workers on every node claim from this index (FOR UPDATE SKIP LOCKED).
CREATE INDEX requests_due ON requests (next_attempt_at, created) WHERE state = 'IN_PROGRESS';
CREATE INDEX requests_state ON requests (state);

CREATE TABLE tasks (
    id              TEXT COLLATE "C" PRIMARY KEY,
    request_id      TEXT COLLATE "C" NOT NULL CONSTRAINT tasks_request_fk REFERENCES requests (id) ON DELETE CASCADE,
    account_ref     TEXT COLLATE "C" NOT NULL,
    source_id       TEXT COLLATE "C" NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    error           TEXT,
    finished        BIGINT,
    position        BIGINT NOT NULL
);
CREATE INDEX tasks_request ON tasks (request_id, position);

CREATE TABLE audit_events (
    seq         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL CONSTRAINT audit_events_id UNIQUE,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT COLLATE "C" NOT NULL,
    request_id  TEXT COLLATE "C",
    source_id   TEXT COLLATE "C",
    identity_id TEXT COLLATE "C",
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_request ON audit_events (request_id);
CREATE INDEX audit_identity ON audit_events (identity_id);

CREATE TABLE builtin_credentials (
    identity_id TEXT COLLATE "C" PRIMARY KEY CONSTRAINT builtin_credentials_identity_fk REFERENCES identities (id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    updated     BIGINT NOT NULL
);

CREATE TABLE password_history (
    seq         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    account_ref TEXT COLLATE "C" NOT NULL CONSTRAINT password_history_account_fk REFERENCES accounts (id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    created     BIGINT NOT NULL
);
CREATE INDEX history_account ON password_history (account_ref, seq);

CREATE TABLE oauth_codes (
    code_hash      TEXT COLLATE "C" PRIMARY KEY,
    client_id      TEXT NOT NULL,
    identity_id    TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    expires        BIGINT NOT NULL,
    used           BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE refresh_tokens (
    token_hash  TEXT COLLATE "C" PRIMARY KEY,
    client_id   TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    expires     BIGINT NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE org_config (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);

CREATE TABLE password_dictionary (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    text TEXT NOT NULL
);

-- One-time digit tokens for password resets (only a salted SHA-256 of the token).
CREATE TABLE digit_tokens (
    id              TEXT COLLATE "C" PRIMARY KEY,
    identity_id     TEXT COLLATE "C" NOT NULL CONSTRAINT digit_tokens_identity_fk REFERENCES identities (id) ON DELETE CASCADE,
    salt            BYTEA NOT NULL,
    hash            BYTEA NOT NULL,
    created         BIGINT NOT NULL,
    expires         BIGINT NOT NULL,
    used            BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL
);
CREATE INDEX digit_tokens_identity ON digit_tokens (identity_id, expires);
CREATE INDEX digit_tokens_expires ON digit_tokens (expires);

-- ISC's custom password instructions: one text per login/recovery page and locale.
CREATE TABLE custom_password_instructions (
    page_id  TEXT COLLATE "C" NOT NULL,
    locale   TEXT COLLATE "C" NOT NULL,
    content  TEXT NOT NULL,
    modified BIGINT NOT NULL,
    PRIMARY KEY (page_id, locale)
);

-- Rate-limit windows shared by every node (PostgreSQL only; not copied by `migrate`).
-- Unlogged: counters are worth losing on a crash rather than a WAL write per request.
CREATE UNLOGGED TABLE rate_limit_windows (
    key          TEXT COLLATE "C" PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL
);
CREATE INDEX rate_limit_windows_start ON rate_limit_windows (window_start);

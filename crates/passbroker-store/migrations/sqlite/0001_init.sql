-- passbroker schema v1 (SQLite). Times are Unix milliseconds; JSON columns hold small maps/lists.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE identities (
    id           TEXT PRIMARY KEY,
    login_name   TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email        TEXT,
    attributes   TEXT NOT NULL DEFAULT '{}',
    user_level   TEXT NOT NULL,
    active       INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX identities_login ON identities (login_name COLLATE NOCASE);

CREATE TABLE password_policies (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    body    TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL
);

CREATE TABLE sources (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    features           TEXT NOT NULL DEFAULT '[]',
    connector          TEXT NOT NULL,
    connector_config   TEXT NOT NULL DEFAULT '{}',
    wrapped_secrets    BLOB,
    owner              TEXT REFERENCES identities (id) ON DELETE SET NULL,
    password_policy_id TEXT REFERENCES password_policies (id) ON DELETE SET NULL,
    delivery           TEXT NOT NULL DEFAULT '{}',
    created            INTEGER NOT NULL,
    modified           INTEGER NOT NULL
);
CREATE UNIQUE INDEX sources_name ON sources (name);

CREATE TABLE accounts (
    id           TEXT PRIMARY KEY,
    source_id    TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    identity_id  TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    native_id    TEXT NOT NULL,
    account_name TEXT NOT NULL,
    attributes   TEXT NOT NULL DEFAULT '{}',
    disabled     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX accounts_native ON accounts (source_id, native_id);
CREATE INDEX accounts_identity ON accounts (identity_id, source_id);

CREATE TABLE sync_groups (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    policy_id TEXT NOT NULL REFERENCES password_policies (id),
    created   INTEGER NOT NULL,
    modified  INTEGER NOT NULL
);
CREATE TABLE sync_group_sources (
    group_id  TEXT NOT NULL REFERENCES sync_groups (id) ON DELETE CASCADE,
    source_id TEXT NOT NULL UNIQUE REFERENCES sources (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    PRIMARY KEY (group_id, source_id)
);

CREATE TABLE api_clients (
    client_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   TEXT,
    scopes        TEXT NOT NULL,
    grant_types   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    created       INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE personal_access_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    owner       TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created     INTEGER NOT NULL,
    last_used   INTEGER,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pats_owner ON personal_access_tokens (owner);

CREATE TABLE rsa_keys (
    id              TEXT PRIMARY KEY,
    bits            INTEGER NOT NULL,
    state           TEXT NOT NULL,
    public_der      BLOB NOT NULL,
    wrapped_private BLOB,
    created         INTEGER NOT NULL,
    deactivated     INTEGER,
    retired         INTEGER
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    state           TEXT NOT NULL,
    public_raw      BLOB NOT NULL,
    wrapped_private BLOB,
    created         INTEGER NOT NULL,
    deactivated     INTEGER
);

CREATE TABLE requests (
    id              TEXT PRIMARY KEY,
    identity_id     TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    account_ref     TEXT NOT NULL,
    public_key_id   TEXT NOT NULL,
    encryption      TEXT NOT NULL,
    ciphertext      BLOB,
    state           TEXT NOT NULL,
    errors          TEXT NOT NULL DEFAULT '[]',
    validated       INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL,
    deadline        INTEGER NOT NULL,
    finished        INTEGER,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT
);
CREATE UNIQUE INDEX requests_idempotency ON requests (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX requests_due ON requests (next_attempt_at) WHERE state = 'IN_PROGRESS';

CREATE TABLE tasks (
    id              TEXT PRIMARY KEY,
    request_id      TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    account_ref     TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    error           TEXT,
    finished        INTEGER,
    position        INTEGER NOT NULL
);
CREATE INDEX tasks_request ON tasks (request_id, position);

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    request_id  TEXT,
    source_id   TEXT,
    identity_id TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_request ON audit_events (request_id);

CREATE TABLE builtin_credentials (
    identity_id TEXT PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    updated     INTEGER NOT NULL
);

CREATE TABLE password_history (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_ref TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    created     INTEGER NOT NULL
);
CREATE INDEX history_account ON password_history (account_ref, seq);

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    identity_id    TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    expires        INTEGER NOT NULL,
    used           INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    expires     INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE org_config (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);

CREATE TABLE password_dictionary (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    text TEXT NOT NULL
);

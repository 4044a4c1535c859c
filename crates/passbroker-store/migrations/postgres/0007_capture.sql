-- passbroker schema (PostgreSQL): password capture (mirrors SQLite's 0008).

CREATE TABLE capture_client_sources (
    client_id TEXT COLLATE "C" NOT NULL CONSTRAINT capture_client_sources_client_fk REFERENCES api_clients (client_id) ON DELETE CASCADE,
    source_id TEXT COLLATE "C" NOT NULL CONSTRAINT capture_client_sources_source_fk REFERENCES sources (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, source_id)
);

CREATE TABLE capture_group_settings (
    group_id       TEXT COLLATE "C" PRIMARY KEY CONSTRAINT capture_group_settings_group_fk REFERENCES sync_groups (id) ON DELETE CASCADE,
    policy_failure TEXT COLLATE "C" NOT NULL
);

CREATE TABLE password_echoes (
    account_id TEXT COLLATE "C" NOT NULL,
    mac        BYTEA NOT NULL,
    request_id TEXT COLLATE "C" NOT NULL,
    created    BIGINT NOT NULL,
    PRIMARY KEY (account_id, mac)
);
CREATE INDEX password_echoes_created ON password_echoes (created);

CREATE TABLE capture_reports (
    client_id  TEXT COLLATE "C" NOT NULL,
    agent_key  TEXT COLLATE "C" NOT NULL,
    request_id TEXT COLLATE "C" NOT NULL,
    created    BIGINT NOT NULL,
    PRIMARY KEY (client_id, agent_key)
);
CREATE INDEX capture_reports_created ON capture_reports (created);

CREATE TABLE capture_policy_notes (
    request_id TEXT COLLATE "C" PRIMARY KEY CONSTRAINT capture_policy_notes_request_fk REFERENCES requests (id) ON DELETE CASCADE,
    notes      TEXT NOT NULL
);

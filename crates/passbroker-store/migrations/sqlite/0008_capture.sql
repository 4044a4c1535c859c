-- passbroker schema (SQLite): password capture (changes made at a directory, reported by an
-- agent, sent to the rest of the sync group).

-- The sources an API client (a capture agent) may report changes for.
CREATE TABLE capture_client_sources (
    client_id TEXT NOT NULL REFERENCES api_clients (client_id) ON DELETE CASCADE,
    source_id TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, source_id)
);

-- Per sync group: what a captured password that fails the group's policy does
-- ('hold': it goes nowhere; 'propagate': it goes on, and the failed rules are reported).
CREATE TABLE capture_group_settings (
    group_id       TEXT PRIMARY KEY REFERENCES sync_groups (id) ON DELETE CASCADE,
    policy_failure TEXT NOT NULL
);

-- Passwords passbroker itself just set on an account, as an HMAC under a key derived from the
-- master key (never the password): an agent's report of one is an echo and is dropped.
-- Rows older than the echo window are deleted when new ones are written.
CREATE TABLE password_echoes (
    account_id TEXT NOT NULL,
    mac        BLOB NOT NULL,
    request_id TEXT NOT NULL,
    created    INTEGER NOT NULL,
    PRIMARY KEY (account_id, mac)
);
CREATE INDEX password_echoes_created ON password_echoes (created);

-- An agent's own key for a change it reported, so its retries return the first request.
CREATE TABLE capture_reports (
    client_id  TEXT NOT NULL,
    agent_key  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created    INTEGER NOT NULL,
    PRIMARY KEY (client_id, agent_key)
);
CREATE INDEX capture_reports_created ON capture_reports (created);

-- The rules a captured password failed when its group propagates it anyway (a JSON list),
-- reported with the request's status.
CREATE TABLE capture_policy_notes (
    request_id TEXT PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    notes      TEXT NOT NULL
);

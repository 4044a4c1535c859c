-- passbroker schema v7 (SQLite): events. An outbox written in the same transaction as the
-- change each event reports, webhook subscriptions in ISC's trigger-subscription shape, and
-- the events a subscription gave up on (dead letters).

-- One row per event. `seq` only grows (AUTOINCREMENT: never reused after a purge), and with
-- one writer at a time it is also commit order, so a subscription's cursor never passes an
-- event that commits later. Events carry ids and outcomes, never a password or a secret.
CREATE TABLE event_outbox (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT NOT NULL UNIQUE,
    type    TEXT NOT NULL,
    subject TEXT,
    time    INTEGER NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX event_outbox_time ON event_outbox (time);

-- A subscription: what ISC's API shows (`config`: JSON without secrets), the secrets (signing
-- secrets, the receiver's BASIC or BEARER credentials) wrapped under the master key, and the
-- delivery state: `last_seq` is the last event handled (delivered, filtered out or
-- dead-lettered); `attempts`, `next_attempt_at` and `last_error` concern the event after it;
-- one node at a time delivers (`lease_owner` until `lease_until`).
CREATE TABLE event_subscriptions (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    trigger_id      TEXT NOT NULL,
    config          TEXT NOT NULL,
    filter          TEXT,
    enabled         INTEGER NOT NULL,
    wrapped_secrets BLOB NOT NULL,
    created         INTEGER NOT NULL,
    modified        INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    lease_owner     TEXT,
    lease_until     INTEGER NOT NULL DEFAULT 0
);

-- Events a subscription gave up on after `events_max_attempts`, each with a copy of the
-- event (the outbox may purge it); `replay` marks those an operator asked to send again.
CREATE TABLE event_dead_letters (
    subscription_id TEXT NOT NULL REFERENCES event_subscriptions (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    event           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    error           TEXT,
    dead_at         INTEGER NOT NULL,
    replay          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subscription_id, seq)
);

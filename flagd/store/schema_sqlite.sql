-- Embedded store. Same shape as ../../schema.sql (PostgreSQL).
CREATE TABLE IF NOT EXISTS flags (
    id                 TEXT PRIMARY KEY,
    key                TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL,
    enabled            INTEGER NOT NULL,
    rollout_percentage INTEGER NOT NULL,
    targeted_users     TEXT NOT NULL,          -- JSON array of strings
    version            INTEGER NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    created_revision   INTEGER NOT NULL        -- orders the list newest first
);
CREATE INDEX IF NOT EXISTS flags_by_creation ON flags (created_revision);

CREATE TABLE IF NOT EXISTS flag_changes (
    revision   INTEGER PRIMARY KEY,            -- rowid: "changes after R" is a range scan
    action     TEXT NOT NULL,
    flag_key   TEXT NOT NULL,
    flag       TEXT,                           -- JSON of the flag after the change; NULL for delete
    actor      TEXT NOT NULL,
    changed_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS store_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT OR IGNORE INTO store_revision (id, revision) VALUES (1, 0);

-- Idempotency-Key of admin writes: a retry with the key gets the first response. Written in
-- the write's own transaction; kept until expires_at (epoch seconds), then purged.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,                -- method, route, flag ref, If-Match and body
    status       INTEGER NOT NULL,             -- the status the write answered
    response     TEXT,                         -- JSON of the flag answered; NULL for a 204
    created_at   TEXT NOT NULL,
    expires_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);

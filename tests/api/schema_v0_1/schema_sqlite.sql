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

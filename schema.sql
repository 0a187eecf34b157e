-- flagd's PostgreSQL schema. Same shape as flagd/store/schema_sqlite.sql.
-- flagd applies this file at every start, in one transaction under an advisory lock, so
-- every statement is idempotent and two instances starting at once do not collide.

CREATE TABLE IF NOT EXISTS flags (
    id                 uuid    PRIMARY KEY,
    key                text    NOT NULL UNIQUE,
    description        text    NOT NULL DEFAULT '',
    enabled            boolean NOT NULL DEFAULT false,
    rollout_percentage integer NOT NULL DEFAULT 0
                       CHECK (rollout_percentage BETWEEN 0 AND 100),
    targeted_users     jsonb   NOT NULL DEFAULT '[]',  -- array of strings
    version            integer NOT NULL,
    -- RFC 3339 text exactly as the service wrote it: round-trips byte-identical, and
    -- identical to what the SQLite store returns.
    created_at         text    NOT NULL,
    updated_at         text    NOT NULL,
    created_revision   bigint  NOT NULL               -- orders the list newest first
);
CREATE INDEX IF NOT EXISTS flags_by_creation ON flags (created_revision);

-- The change log: audit log, stream replay source, catch-up for other instances.
CREATE TABLE IF NOT EXISTS flag_changes (
    revision   bigint PRIMARY KEY,
    action     text   NOT NULL
               CHECK (action IN ('created', 'updated', 'toggled', 'deleted')),
    flag_key   text   NOT NULL,
    flag       jsonb,                                 -- the flag after the change; NULL for delete
    actor      text   NOT NULL,
    changed_at text   NOT NULL
);

-- One row: the global revision. Every write bumps it in its own transaction, so the row
-- lock makes revisions contiguous and commit in order.
CREATE TABLE IF NOT EXISTS store_revision (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision bigint  NOT NULL
);
INSERT INTO store_revision (id, revision) VALUES (1, 0) ON CONFLICT DO NOTHING;

-- Idempotency-Key of admin writes: a retry with the key gets the first response. Written in
-- the write's own transaction (claimed first, so a concurrent retry waits on the key and
-- then replays); kept until expires_at (epoch seconds), then purged.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key          text             PRIMARY KEY,
    request_hash text             NOT NULL,       -- method, route, flag ref, If-Match and body
    status       integer          NOT NULL,       -- the status the write answered
    response     jsonb,                           -- the flag answered; NULL for a 204
    created_at   text             NOT NULL,
    expires_at   double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);

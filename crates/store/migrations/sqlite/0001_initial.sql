-- The phishloop schema on SQLite. migrations/postgres/0001_initial.sql holds
-- the same tables, columns, constraints and indexes in PostgreSQL types.
--
-- Types here: UUIDs are 16-byte BLOBs (the encoding of sqlx's uuid support),
-- times are UTC text 'YYYY-MM-DDTHH:MM:SS.sssZ' written only by SQLite's
-- clock (fixed width, so text order is time order), JSON is text. Tables are
-- STRICT, so a column holds only values of its declared type.

CREATE TABLE raw_messages (
    sha256      TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    -- Size in bytes before compression.
    size        INTEGER NOT NULL CHECK (size >= 0),
    compression TEXT NOT NULL CHECK (compression IN ('zstd')),
    data        BLOB NOT NULL,
    stored_at   TEXT NOT NULL
) STRICT;

CREATE TABLE cases (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    join_key   TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE reports (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    received_at TEXT NOT NULL,
    reporter    TEXT NOT NULL,
    comment     TEXT,
    source      TEXT NOT NULL CHECK (source IN ('api', 'cli', 'imap', 'graph')),
    raw_sha256  TEXT NOT NULL REFERENCES raw_messages (sha256),
    status      TEXT NOT NULL CHECK (status IN ('received', 'analysed', 'needs_review', 'decided', 'closed')),
    decision    TEXT,
    analysis    TEXT,
    case_id     BLOB REFERENCES cases (id),
    updated_at  TEXT NOT NULL,
    CONSTRAINT reports_decided_has_decision CHECK (status <> 'decided' OR decision IS NOT NULL)
) STRICT;

CREATE INDEX reports_case_id ON reports (case_id, received_at);
CREATE INDEX reports_raw_sha256 ON reports (raw_sha256);
CREATE INDEX reports_status ON reports (status, received_at);

CREATE TABLE jobs (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    -- Claims so far; a claim increments it.
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    -- Queued: earliest time to run. Running: end of the lease.
    due_at          TEXT NOT NULL,
    lease_owner     TEXT,
    lease_token     BLOB,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    CONSTRAINT jobs_kind_idempotency_key UNIQUE (kind, idempotency_key),
    CONSTRAINT jobs_running_has_lease CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_token IS NOT NULL))
) STRICT;

-- Claims search only unfinished jobs, so the index leaves out done and dead ones.
CREATE INDEX jobs_claimable ON jobs (kind, due_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_status ON jobs (status, due_at);

-- The last event of the chain. One row; appends update it first, which
-- serialises them.
CREATE TABLE event_chain_head (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    hash        TEXT NOT NULL,
    appended_at TEXT
) STRICT;

INSERT INTO event_chain_head (id, seq, hash, appended_at)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', NULL);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    id         BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    created_at TEXT NOT NULL,
    case_id    BLOB REFERENCES cases (id),
    report_id  BLOB REFERENCES reports (id),
    kind       TEXT NOT NULL,
    -- The JSON text exactly as hashed.
    payload    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    CONSTRAINT events_one_subject CHECK ((case_id IS NULL) <> (report_id IS NULL))
) STRICT;

CREATE INDEX events_case_id ON events (case_id, seq) WHERE case_id IS NOT NULL;
CREATE INDEX events_report_id ON events (report_id, seq) WHERE report_id IS NOT NULL;

CREATE TRIGGER events_reject_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;

CREATE TRIGGER events_reject_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed');
END;

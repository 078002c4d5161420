-- The phishloop schema on PostgreSQL. migrations/sqlite/0001_initial.sql holds
-- the same tables, columns, constraints and indexes in SQLite types.
--
-- Tables are created in the first schema of the connection's search_path.

CREATE TABLE raw_messages (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- Size in bytes before compression.
    size        bigint NOT NULL CHECK (size >= 0),
    compression text NOT NULL CHECK (compression IN ('zstd')),
    data        bytea NOT NULL,
    stored_at   timestamptz NOT NULL
);

-- The data is zstd-compressed already: store it out of line without
-- PostgreSQL's own compression attempt.
ALTER TABLE raw_messages ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE cases (
    id         uuid PRIMARY KEY,
    join_key   text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE reports (
    id          uuid PRIMARY KEY,
    received_at timestamptz NOT NULL,
    reporter    text NOT NULL,
    comment     text,
    source      text NOT NULL CHECK (source IN ('api', 'cli', 'imap', 'graph')),
    raw_sha256  text NOT NULL REFERENCES raw_messages (sha256),
    status      text NOT NULL CHECK (status IN ('received', 'analysed', 'needs_review', 'decided', 'closed')),
    decision    jsonb,
    analysis    jsonb,
    case_id     uuid REFERENCES cases (id),
    updated_at  timestamptz NOT NULL,
    CONSTRAINT reports_decided_has_decision CHECK (status <> 'decided' OR decision IS NOT NULL)
);

CREATE INDEX reports_case_id ON reports (case_id, received_at);
CREATE INDEX reports_raw_sha256 ON reports (raw_sha256);
CREATE INDEX reports_status ON reports (status, received_at);

CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    idempotency_key text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    -- Claims so far; a claim increments it.
    attempts        bigint NOT NULL CHECK (attempts >= 0),
    max_attempts    bigint NOT NULL CHECK (max_attempts >= 1),
    -- Queued: earliest time to run. Running: end of the lease.
    due_at          timestamptz NOT NULL,
    lease_owner     text,
    lease_token     uuid,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    CONSTRAINT jobs_kind_idempotency_key UNIQUE (kind, idempotency_key),
    CONSTRAINT jobs_running_has_lease CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_token IS NOT NULL))
);

-- Claims search only unfinished jobs, so the index leaves out done and dead ones.
CREATE INDEX jobs_claimable ON jobs (kind, due_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_status ON jobs (status, due_at);

-- The last event of the chain. One row; appends update it first, and the row
-- lock of that update serialises them.
CREATE TABLE event_chain_head (
    id          integer PRIMARY KEY CHECK (id = 1),
    seq         bigint NOT NULL CHECK (seq >= 0),
    hash        text NOT NULL,
    appended_at timestamptz
);

INSERT INTO event_chain_head (id, seq, hash, appended_at)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', NULL);

CREATE TABLE events (
    seq        bigint PRIMARY KEY CHECK (seq >= 1),
    id         uuid NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    case_id    uuid REFERENCES cases (id),
    report_id  uuid REFERENCES reports (id),
    kind       text NOT NULL,
    -- The JSON text exactly as hashed: jsonb would rewrite it.
    payload    text NOT NULL,
    prev_hash  text NOT NULL,
    hash       text NOT NULL,
    CONSTRAINT events_one_subject CHECK ((case_id IS NULL) <> (report_id IS NULL))
);

CREATE INDEX events_case_id ON events (case_id, seq) WHERE case_id IS NOT NULL;
CREATE INDEX events_report_id ON events (report_id, seq) WHERE report_id IS NOT NULL;

CREATE FUNCTION events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP;
END;
$$;

CREATE TRIGGER events_reject_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER events_reject_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER events_reject_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();

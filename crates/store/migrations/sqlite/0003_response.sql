-- Response and coaching records on SQLite. migrations/postgres/0003_response.sql
-- holds the same tables in PostgreSQL types.

-- Actions planned for a case. The idempotency key is unique, so planning the
-- same action twice (a retried job, a second report of the case) finds the
-- first row instead of adding another.
CREATE TABLE actions (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    case_id         BLOB NOT NULL REFERENCES cases (id),
    kind            TEXT NOT NULL,
    -- The action's target as JSON, such as {"type": "url", "url": "..."}.
    target          TEXT NOT NULL,
    mode            TEXT NOT NULL CHECK (mode IN ('auto', 'approve')),
    connector       TEXT NOT NULL,
    playbook        TEXT NOT NULL,
    reversible      INTEGER NOT NULL CHECK (reversible IN (0, 1)),
    note            TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('planned', 'awaiting_approval', 'approved', 'running',
                                                    'succeeded', 'failed', 'skipped', 'undone')),
    -- The connector's last outcome as JSON.
    outcome         TEXT,
    approved_by     TEXT,
    approved_at     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    -- When the action last reached succeeded, failed, skipped or undone.
    finished_at     TEXT
) STRICT;

CREATE INDEX actions_case_id ON actions (case_id, created_at);
CREATE INDEX actions_status ON actions (status, created_at);

-- Messages to people, waiting to be sent or sent. about_id is the report
-- for acknowledgements and outcomes and the case for lessons, so each
-- person gets each message once however often a job runs.
CREATE TABLE outbox (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind       TEXT NOT NULL CHECK (kind IN ('acknowledgement', 'outcome', 'lesson')),
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body_text  TEXT NOT NULL,
    body_html  TEXT NOT NULL,
    case_id    BLOB REFERENCES cases (id),
    report_id  BLOB REFERENCES reports (id),
    about_id   BLOB NOT NULL CHECK (length(about_id) = 16),
    status     TEXT NOT NULL CHECK (status IN ('queued', 'sent')),
    created_at TEXT NOT NULL,
    sent_at    TEXT,
    CONSTRAINT outbox_once_per_person UNIQUE (about_id, kind, recipient)
) STRICT;

CREATE INDEX outbox_status ON outbox (status, created_at);
CREATE INDEX outbox_case_id ON outbox (case_id, created_at);
CREATE INDEX outbox_report_id ON outbox (report_id);

-- URLs and domains published in the block-list feeds. A removed entry stays
-- for the record; at most one entry per kind and value is not removed.
CREATE TABLE block_entries (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind       TEXT NOT NULL CHECK (kind IN ('url', 'domain')),
    value      TEXT NOT NULL,
    case_id    BLOB NOT NULL REFERENCES cases (id),
    action_id  BLOB REFERENCES actions (id),
    added_at   TEXT NOT NULL,
    -- NULL publishes the entry until it is removed.
    expires_at TEXT,
    removed    INTEGER NOT NULL CHECK (removed IN (0, 1)),
    removed_at TEXT
) STRICT;

CREATE UNIQUE INDEX block_entries_listed ON block_entries (kind, value) WHERE removed = 0;
CREATE INDEX block_entries_case_id ON block_entries (case_id);

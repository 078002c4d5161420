-- Response and coaching records on PostgreSQL. migrations/sqlite/0003_response.sql
-- holds the same tables in SQLite types.

-- Actions planned for a case. The idempotency key is unique, so planning the
-- same action twice (a retried job, a second report of the case) finds the
-- first row instead of adding another.
CREATE TABLE actions (
    id              uuid PRIMARY KEY,
    case_id         uuid NOT NULL REFERENCES cases (id),
    kind            text NOT NULL,
    -- The action's target, such as {"type": "url", "url": "..."}.
    target          jsonb NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('auto', 'approve')),
    connector       text NOT NULL,
    playbook        text NOT NULL,
    reversible      boolean NOT NULL,
    note            text,
    idempotency_key text NOT NULL UNIQUE,
    status          text NOT NULL CHECK (status IN ('planned', 'awaiting_approval', 'approved', 'running',
                                                    'succeeded', 'failed', 'skipped', 'undone')),
    -- The connector's last outcome.
    outcome         jsonb,
    approved_by     text,
    approved_at     timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- When the action last reached succeeded, failed, skipped or undone.
    finished_at     timestamptz
);

CREATE INDEX actions_case_id ON actions (case_id, created_at);
CREATE INDEX actions_status ON actions (status, created_at);

-- Messages to people, waiting to be sent or sent. about_id is the report
-- for acknowledgements and outcomes and the case for lessons, so each
-- person gets each message once however often a job runs.
CREATE TABLE outbox (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('acknowledgement', 'outcome', 'lesson')),
    recipient  text NOT NULL,
    subject    text NOT NULL,
    body_text  text NOT NULL,
    body_html  text NOT NULL,
    case_id    uuid REFERENCES cases (id),
    report_id  uuid REFERENCES reports (id),
    about_id   uuid NOT NULL,
    status     text NOT NULL CHECK (status IN ('queued', 'sent')),
    created_at timestamptz NOT NULL,
    sent_at    timestamptz,
    CONSTRAINT outbox_once_per_person UNIQUE (about_id, kind, recipient)
);

CREATE INDEX outbox_status ON outbox (status, created_at);
CREATE INDEX outbox_case_id ON outbox (case_id, created_at);
CREATE INDEX outbox_report_id ON outbox (report_id);

-- URLs and domains published in the block-list feeds. A removed entry stays
-- for the record; at most one entry per kind and value is not removed.
CREATE TABLE block_entries (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('url', 'domain')),
    value      text NOT NULL,
    case_id    uuid NOT NULL REFERENCES cases (id),
    action_id  uuid REFERENCES actions (id),
    added_at   timestamptz NOT NULL,
    -- NULL publishes the entry until it is removed.
    expires_at timestamptz,
    removed    boolean NOT NULL,
    removed_at timestamptz
);

CREATE UNIQUE INDEX block_entries_listed ON block_entries (kind, value) WHERE NOT removed;
CREATE INDEX block_entries_case_id ON block_entries (case_id);

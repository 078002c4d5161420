-- The analyst web interface: accounts, sessions, verdict corrections and
-- rejected actions. migrations/postgres/0006_web.sql makes the same changes
-- in PostgreSQL types.

-- Local accounts. The name is stored in lowercase, so lookups ignore case.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'identity', 'awareness', 'auditor')),
    -- Argon2id in the PHC string format, with its own salt and parameters.
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- Set while the account is disabled; a disabled account cannot sign in.
    disabled_at   TEXT,
    -- Failed sign-ins since the last successful one.
    failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    -- Sign-in is refused until this time after too many failures.
    locked_until  TEXT,
    last_login_at TEXT
) STRICT;

-- Browser sessions. Only the SHA-256 of the session cookie is stored, so a
-- copy of this table does not let anyone sign in.
CREATE TABLE sessions (
    id_sha256       TEXT PRIMARY KEY NOT NULL CHECK (length(id_sha256) = 64 AND id_sha256 NOT GLOB '*[^0-9a-f]*'),
    user_id         BLOB NOT NULL REFERENCES users (id),
    -- The token every form of this session must send back.
    csrf_token      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    -- The session ends at the earlier of these: after a time without
    -- requests, and at a fixed time after sign-in.
    idle_expires_at TEXT NOT NULL,
    expires_at      TEXT NOT NULL
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Verdict changes by a person, with who and why. The event log records
-- each one as `verdict_corrected` on the case as well.
CREATE TABLE corrections (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    case_id         BLOB NOT NULL REFERENCES cases (id),
    verdict_before  TEXT,
    category_before TEXT,
    verdict         TEXT NOT NULL,
    category        TEXT NOT NULL,
    corrected_by    TEXT NOT NULL,
    reason          TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX corrections_case_id ON corrections (case_id, created_at);

-- Actions gain the status 'rejected': a person declined an action that
-- awaited approval. SQLite cannot change a CHECK constraint in place, so the
-- table is copied. block_entries references actions, so it is set aside
-- first and restored afterwards; every id stays the same.
CREATE TABLE block_entries_saved AS SELECT * FROM block_entries;

DROP TABLE block_entries;

CREATE TABLE actions_rejectable (
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
                                                    'succeeded', 'failed', 'skipped', 'undone', 'rejected')),
    -- The connector's last outcome as JSON; for a rejected action, who rejected it and why.
    outcome         TEXT,
    approved_by     TEXT,
    approved_at     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    -- When the action last reached succeeded, failed, skipped, undone or rejected.
    finished_at     TEXT
) STRICT;

INSERT INTO actions_rejectable SELECT id, case_id, kind, target, mode, connector, playbook, reversible, note,
    idempotency_key, status, outcome, approved_by, approved_at, created_at, updated_at, finished_at FROM actions;

DROP TABLE actions;

ALTER TABLE actions_rejectable RENAME TO actions;

CREATE INDEX actions_case_id ON actions (case_id, created_at);
CREATE INDEX actions_status ON actions (status, created_at);

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

INSERT INTO block_entries SELECT id, kind, value, case_id, action_id, added_at, expires_at, removed, removed_at
FROM block_entries_saved;

DROP TABLE block_entries_saved;

CREATE UNIQUE INDEX block_entries_listed ON block_entries (kind, value) WHERE removed = 0;
CREATE INDEX block_entries_case_id ON block_entries (case_id);

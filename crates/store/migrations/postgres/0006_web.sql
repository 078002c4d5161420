-- The analyst web interface: accounts, sessions, verdict corrections and
-- rejected actions. migrations/sqlite/0006_web.sql makes the same changes
-- in SQLite types.

-- Local accounts. The name is stored in lowercase, so lookups ignore case.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('admin', 'analyst', 'identity', 'awareness', 'auditor')),
    -- Argon2id in the PHC string format, with its own salt and parameters.
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- Set while the account is disabled; a disabled account cannot sign in.
    disabled_at   timestamptz,
    -- Failed sign-ins since the last successful one.
    failed_logins bigint NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    -- Sign-in is refused until this time after too many failures.
    locked_until  timestamptz,
    last_login_at timestamptz
);

-- Browser sessions. Only the SHA-256 of the session cookie is stored, so a
-- copy of this table does not let anyone sign in.
CREATE TABLE sessions (
    id_sha256       text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
    user_id         uuid NOT NULL REFERENCES users (id),
    -- The token every form of this session must send back.
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    -- The session ends at the earlier of these: after a time without
    -- requests, and at a fixed time after sign-in.
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Verdict changes by a person, with who and why. The event log records
-- each one as `verdict_corrected` on the case as well.
CREATE TABLE corrections (
    id              uuid PRIMARY KEY,
    case_id         uuid NOT NULL REFERENCES cases (id),
    verdict_before  text,
    category_before text,
    verdict         text NOT NULL,
    category        text NOT NULL,
    corrected_by    text NOT NULL,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL
);

CREATE INDEX corrections_case_id ON corrections (case_id, created_at);

-- Actions gain the status 'rejected': a person declined an action that
-- awaited approval. For a rejected action the outcome holds who rejected it
-- and why.
ALTER TABLE actions DROP CONSTRAINT actions_status_check;
ALTER TABLE actions ADD CONSTRAINT actions_status_check CHECK (status IN ('planned', 'awaiting_approval',
    'approved', 'running', 'succeeded', 'failed', 'skipped', 'undone', 'rejected'));

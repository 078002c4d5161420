-- Identity containment on SQLite: who received, clicked or submitted
-- credentials per case, each import of click evidence, and the identity
-- role of API tokens. migrations/postgres/0007_identity.sql makes the same
-- changes in PostgreSQL types.

-- One row per person and case. The verdict only rises (received, clicked,
-- submitted_credentials), so a later import with less evidence never
-- lowers it.
CREATE TABLE identity_people (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    case_id          BLOB NOT NULL REFERENCES cases (id),
    address          TEXT NOT NULL,
    verdict          TEXT NOT NULL CHECK (verdict IN ('received', 'clicked', 'submitted_credentials')),
    -- 0 for a person who clicked a forwarded copy without being a recipient.
    recipient        INTEGER NOT NULL CHECK (recipient IN (0, 1)),
    -- The log lines behind the verdict, as a JSON array.
    evidence         TEXT NOT NULL,
    first_clicked_at TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT identity_people_once UNIQUE (case_id, address)
) STRICT;

CREATE INDEX identity_people_address ON identity_people (address);

-- Every import of click evidence that matched a case, with the matching
-- entries that were not counted (scanners, previews, bursts) and the lines
-- that could not be read.
CREATE TABLE click_imports (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    case_id      BLOB NOT NULL REFERENCES cases (id),
    -- The log format, such as proxy_csv or defender.
    format       TEXT NOT NULL,
    -- The API token name, or defender-poll for polled events.
    requested_by TEXT NOT NULL,
    entries      INTEGER NOT NULL CHECK (entries >= 0),
    matched      INTEGER NOT NULL CHECK (matched >= 0),
    -- JSON arrays of excluded entries and of unreadable lines.
    excluded     TEXT NOT NULL,
    defects      TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;

CREATE INDEX click_imports_case_id ON click_imports (case_id, created_at);

-- SQLite cannot change a CHECK constraint in place, so the token table is
-- copied into one that also accepts the role 'identity'. Nothing
-- references api_tokens, so the copy keeps every key.
CREATE TABLE api_tokens_identity (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'identity', 'reporter')),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;

INSERT INTO api_tokens_identity (id, name, role, token_sha256, created_at, revoked_at)
SELECT id, name, role, token_sha256, created_at, revoked_at FROM api_tokens;

DROP TABLE api_tokens;

ALTER TABLE api_tokens_identity RENAME TO api_tokens;

CREATE INDEX api_tokens_name ON api_tokens (name);

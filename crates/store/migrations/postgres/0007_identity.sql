-- Identity containment on PostgreSQL: who received, clicked or submitted
-- credentials per case, each import of click evidence, and the identity
-- role of API tokens. migrations/sqlite/0007_identity.sql makes the same
-- changes in SQLite types.

-- One row per person and case. The verdict only rises (received, clicked,
-- submitted_credentials), so a later import with less evidence never
-- lowers it.
CREATE TABLE identity_people (
    id               uuid PRIMARY KEY,
    case_id          uuid NOT NULL REFERENCES cases (id),
    address          text NOT NULL,
    verdict          text NOT NULL CHECK (verdict IN ('received', 'clicked', 'submitted_credentials')),
    -- False for a person who clicked a forwarded copy without being a recipient.
    recipient        boolean NOT NULL,
    -- The log lines behind the verdict.
    evidence         jsonb NOT NULL,
    first_clicked_at timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT identity_people_once UNIQUE (case_id, address)
);

CREATE INDEX identity_people_address ON identity_people (address);

-- Every import of click evidence that matched a case, with the matching
-- entries that were not counted (scanners, previews, bursts) and the lines
-- that could not be read.
CREATE TABLE click_imports (
    id           uuid PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases (id),
    -- The log format, such as proxy_csv or defender.
    format       text NOT NULL,
    -- The API token name, or defender-poll for polled events.
    requested_by text NOT NULL,
    entries      bigint NOT NULL CHECK (entries >= 0),
    matched      bigint NOT NULL CHECK (matched >= 0),
    excluded     jsonb NOT NULL,
    defects      jsonb NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE INDEX click_imports_case_id ON click_imports (case_id, created_at);

ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('admin', 'analyst', 'identity', 'reporter'));

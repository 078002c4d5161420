-- Access tokens of the HTTP API. migrations/sqlite/0002_api_tokens.sql holds
-- the same table in SQLite types.
--
-- Only the SHA-256 of a token is stored: the token itself is shown once, when
-- it is created, and a copy of this table does not let anyone call the API.

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'analyst', 'reporter')),
    token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL,
    -- Set once when the token is revoked; a revoked token is never accepted again.
    revoked_at   timestamptz
);

CREATE INDEX api_tokens_name ON api_tokens (name);

-- Access tokens of the HTTP API. migrations/postgres/0002_api_tokens.sql holds
-- the same table in PostgreSQL types.
--
-- Only the SHA-256 of a token is stored: the token itself is shown once, when
-- it is created, and a copy of this table does not let anyone call the API.

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'reporter')),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    created_at   TEXT NOT NULL,
    -- Set once when the token is revoked; a revoked token is never accepted again.
    revoked_at   TEXT
) STRICT;

CREATE INDEX api_tokens_name ON api_tokens (name);

-- Mail: the source key of reports read from a reporting mailbox, and the
-- delivery state of outbox messages. migrations/postgres/0005_mail.sql
-- makes the same changes in PostgreSQL types.

-- Unique where set: a second report with the same key returns the first.
-- Intake over IMAP sets it to the account, mailbox, UIDVALIDITY and UID.
ALTER TABLE reports ADD COLUMN source_key TEXT;

CREATE UNIQUE INDEX reports_source_key ON reports (source_key);

-- SQLite cannot change a CHECK constraint in place, so the outbox is copied
-- into a table that also accepts the status 'failed' and has the delivery
-- columns. Nothing references the outbox, so the copy keeps every key.
CREATE TABLE outbox_delivery (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    kind            TEXT NOT NULL CHECK (kind IN ('acknowledgement', 'outcome', 'lesson')),
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    case_id         BLOB REFERENCES cases (id),
    report_id       BLOB REFERENCES reports (id),
    about_id        BLOB NOT NULL CHECK (length(about_id) = 16),
    -- 'failed': delivery was rejected permanently or ran out of attempts.
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    -- Delivery attempts so far; a claim increments it.
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    -- NULL: due at once. Otherwise the earliest time of the next attempt.
    next_attempt_at TEXT,
    -- The claim of one delivery process: a random token and the end of its lease.
    lease_token     BLOB,
    lease_until     TEXT,
    -- The Message-ID the message was sent with.
    smtp_message_id TEXT,
    failed_at       TEXT,
    CONSTRAINT outbox_once_per_person UNIQUE (about_id, kind, recipient)
) STRICT;

INSERT INTO outbox_delivery (id, kind, recipient, subject, body_text, body_html, case_id, report_id, about_id,
    status, created_at, sent_at)
SELECT id, kind, recipient, subject, body_text, body_html, case_id, report_id, about_id, status, created_at, sent_at
FROM outbox;

DROP TABLE outbox;

ALTER TABLE outbox_delivery RENAME TO outbox;

CREATE INDEX outbox_status ON outbox (status, created_at);
CREATE INDEX outbox_case_id ON outbox (case_id, created_at);
CREATE INDEX outbox_report_id ON outbox (report_id);

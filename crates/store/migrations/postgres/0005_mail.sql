-- Mail: the source key of reports read from a reporting mailbox, and the
-- delivery state of outbox messages. migrations/sqlite/0005_mail.sql makes
-- the same changes in SQLite types.

-- Unique where set: a second report with the same key returns the first.
-- Intake over IMAP sets it to the account, mailbox, UIDVALIDITY and UID.
ALTER TABLE reports ADD COLUMN source_key text;

CREATE UNIQUE INDEX reports_source_key ON reports (source_key);

-- 'failed': delivery was rejected permanently or ran out of attempts.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('queued', 'sent', 'failed'));

-- Delivery attempts so far; a claim increments it.
ALTER TABLE outbox ADD COLUMN attempts bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0);
ALTER TABLE outbox ADD COLUMN last_error text;
-- NULL: due at once. Otherwise the earliest time of the next attempt.
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
-- The claim of one delivery process: a random token and the end of its lease.
ALTER TABLE outbox ADD COLUMN lease_token uuid;
ALTER TABLE outbox ADD COLUMN lease_until timestamptz;
-- The Message-ID the message was sent with.
ALTER TABLE outbox ADD COLUMN smtp_message_id text;
ALTER TABLE outbox ADD COLUMN failed_at timestamptz;

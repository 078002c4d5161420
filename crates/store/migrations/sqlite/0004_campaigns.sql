-- Campaigns: groups of cases that share sender infrastructure, link targets,
-- attachments or near-duplicate text. migrations/postgres/0004_campaigns.sql
-- holds the same tables in PostgreSQL types.

CREATE TABLE campaigns (
    id             BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    created_at     TEXT NOT NULL,
    -- Time of the first and of the latest case assignment, over merged campaigns too.
    first_seen_at  TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    case_count     INTEGER NOT NULL CHECK (case_count >= 0),
    -- Distinct reporter addresses, ignoring ASCII case, over every report of every case.
    reporter_count INTEGER NOT NULL CHECK (reporter_count >= 0),
    -- Set when this campaign was merged into another; its cases and keys moved there.
    merged_into    BLOB REFERENCES campaigns (id),
    CONSTRAINT campaigns_merged_is_empty CHECK (merged_into IS NULL OR case_count = 0)
) STRICT;

-- Each key belongs to one campaign; lookups are by (key_type, key_value).
CREATE TABLE campaign_keys (
    key_type    TEXT NOT NULL,
    key_value   TEXT NOT NULL,
    campaign_id BLOB NOT NULL REFERENCES campaigns (id),
    added_at    TEXT NOT NULL,
    PRIMARY KEY (key_type, key_value)
) STRICT;

CREATE INDEX campaign_keys_campaign_id ON campaign_keys (campaign_id);

-- Each case belongs to at most one campaign.
CREATE TABLE campaign_cases (
    case_id     BLOB PRIMARY KEY NOT NULL REFERENCES cases (id),
    campaign_id BLOB NOT NULL REFERENCES campaigns (id),
    joined_at   TEXT NOT NULL
) STRICT;

CREATE INDEX campaign_cases_campaign_id ON campaign_cases (campaign_id, joined_at);

-- Every merge: the case whose keys linked the two campaigns.
CREATE TABLE campaign_merges (
    merged_id   BLOB PRIMARY KEY NOT NULL REFERENCES campaigns (id),
    survivor_id BLOB NOT NULL REFERENCES campaigns (id),
    case_id     BLOB NOT NULL REFERENCES cases (id),
    merged_at   TEXT NOT NULL
) STRICT;

CREATE INDEX campaign_merges_survivor_id ON campaign_merges (survivor_id, merged_at);

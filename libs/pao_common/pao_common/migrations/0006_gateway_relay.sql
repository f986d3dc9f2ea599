-- The gateway: each submission remembers the commands topic it is for, so a relay
-- (any replica) publishes it there and only there, also when several deployments
-- (topic suffixes) share one database.
-- Owner: services/gateway.
ALTER TABLE gateway_submissions
    ADD COLUMN IF NOT EXISTS topic text NOT NULL DEFAULT 'pao.requests.commands';

CREATE INDEX IF NOT EXISTS gateway_submissions_topic_unpublished
    ON gateway_submissions (topic, submitted_at) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS gateway_submissions_topic_submitted
    ON gateway_submissions (topic, submitted_at DESC);

-- Notifications (issue #12): what the notifier learnt of each request from its public
-- events, and every notification it sent or tried to send (to whom, over which channel,
-- how often, the last error). Owner: services/notifier; the gateway reads what it
-- publishes of the log, the request_notifications view (0020).
CREATE TABLE IF NOT EXISTS notifier_requests (
    request_id text PRIMARY KEY,
    item_id text NOT NULL,
    requester jsonb NOT NULL,
    inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS notification_log (
    -- derived from (request event id, channel, target): a redelivered event adds nothing
    notification_id text PRIMARY KEY,
    request_id text NOT NULL,
    event_version int NOT NULL,
    trigger text NOT NULL,       -- awaiting_approval | completed | failed | rolled_back | ...
    channel text NOT NULL,       -- email | slack | teams
    target text NOT NULL,        -- the SMTP recipients, or the webhook's name
    recipients jsonb NOT NULL DEFAULT '[]'::jsonb,
    subject text NOT NULL DEFAULT '',
    body text NOT NULL,
    webhook_url text,            -- never shown by the API
    status text NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    attempts int NOT NULL DEFAULT 0,
    last_error text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);

CREATE INDEX IF NOT EXISTS notification_log_request ON notification_log (request_id, created_at);
CREATE INDEX IF NOT EXISTS notification_log_due ON notification_log (next_attempt_at)
    WHERE status = 'pending';

-- The orchestrator: event store, processed messages, outbox, durable timers and the
-- request_view projection the gateway reads. Owner: services/orchestrator.

-- One request = one stream. (stream_id, version) is the primary key, so two writers
-- racing on one request cannot both append the same version (optimistic concurrency).
CREATE TABLE IF NOT EXISTS request_events (
    stream_id text NOT NULL,
    version int NOT NULL,
    event_type text NOT NULL,
    schema_version int NOT NULL DEFAULT 1,
    data jsonb NOT NULL,
    message_id text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    position bigserial NOT NULL,
    PRIMARY KEY (stream_id, version)
);
CREATE INDEX IF NOT EXISTS request_events_position ON request_events (position);

-- Ids of the messages whose effects are recorded: written in the same transaction as
-- the events they caused, so a redelivered message is recognised and skipped.
CREATE TABLE IF NOT EXISTS processed_messages (
    message_id text PRIMARY KEY,
    stream_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Messages to publish after commit (commands to executors, public request events).
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    message_id text NOT NULL UNIQUE,
    topic text NOT NULL,
    key text,
    ce_type text NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Durable timers (retry backoff, step timeouts, approval expiry). Any replica claims
-- due rows with FOR UPDATE SKIP LOCKED and a lease; firing one is handled like a message.
CREATE TABLE IF NOT EXISTS timers (
    timer_id text PRIMARY KEY,
    stream_id text NOT NULL,
    kind text NOT NULL,
    due_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);

-- The read model of requests (the gateway reads it). Rebuilt from request_events by
-- `pao orchestrator rebuild`.
CREATE TABLE IF NOT EXISTS request_view (
    request_id text PRIMARY KEY,
    item_id text,
    item_version text,
    status text NOT NULL,
    requester_id text,
    requester_teams text[] NOT NULL DEFAULT '{}',
    requester jsonb,
    inputs jsonb,
    outputs jsonb,
    steps jsonb NOT NULL DEFAULT '[]'::jsonb,
    ticket jsonb,
    approval jsonb,
    error text,
    idempotency_key text,
    last_version int NOT NULL,
    submitted_at timestamptz,
    updated_at timestamptz,
    completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS request_view_status ON request_view (status);
CREATE INDEX IF NOT EXISTS request_view_item ON request_view (item_id);
CREATE INDEX IF NOT EXISTS request_view_requester ON request_view (requester_id);
CREATE INDEX IF NOT EXISTS request_view_teams ON request_view USING gin (requester_teams);
CREATE INDEX IF NOT EXISTS request_view_submitted ON request_view (submitted_at DESC);

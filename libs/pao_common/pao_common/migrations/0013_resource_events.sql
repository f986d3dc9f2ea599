-- Resource streams: one per resource (stream_id = the resource id), written by the
-- orchestrator in the same transaction as the request events that caused them. As for
-- requests, (stream_id, version) is the primary key: two requests racing to claim one
-- resource cannot both append its next version (optimistic concurrency).
-- Owner: services/orchestrator. The resource_view read model (0009) is its projection.
CREATE TABLE IF NOT EXISTS resource_events (
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
CREATE INDEX IF NOT EXISTS resource_events_position ON resource_events (position);

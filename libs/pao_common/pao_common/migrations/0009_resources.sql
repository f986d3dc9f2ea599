-- The read model of resources (what PAO provisioned), written by the orchestrator from
-- its resource events and rebuilt by `pao orchestrator rebuild`; the gateway reads it.
-- Owner: services/orchestrator.
CREATE TABLE IF NOT EXISTS resource_view (
    resource_id text PRIMARY KEY,
    item_id text NOT NULL,
    item_version text NOT NULL,
    name text NOT NULL,
    owner_team text,
    requester_id text,
    status text NOT NULL,
    inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    outputs jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- [{request_id, operation, status, submitted_at, ended_at}], oldest first
    requests jsonb NOT NULL DEFAULT '[]'::jsonb,
    active_request_id text,
    active_operation text,
    error text,
    last_version int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    decommissioned_at timestamptz
);
CREATE INDEX IF NOT EXISTS resource_view_team ON resource_view (owner_team, created_at DESC, resource_id);
CREATE INDEX IF NOT EXISTS resource_view_item ON resource_view (item_id);
CREATE INDEX IF NOT EXISTS resource_view_status ON resource_view (status);
CREATE INDEX IF NOT EXISTS resource_view_requester ON resource_view (requester_id);

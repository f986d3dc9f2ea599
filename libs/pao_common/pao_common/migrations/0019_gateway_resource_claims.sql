-- The gateway (issue #11): one day-2 operation at a time per resource, across replicas.
-- POST /api/v1/resources/{id}/operations/{op} writes its gateway_submissions row and the
-- resource's claim in one transaction; INSERT ... ON CONFLICT (resource_id) lets exactly
-- one of two racing replicas win, the other answers 409 naming the holder. A claim is
-- taken over when its holder request has ended (request_view) or it is older than
-- PAO_GATEWAY_RESOURCE_CLAIM_STALE_S, and deleted when the gateway sees the holder's
-- terminal event, or by its periodic sweep. Owner: services/gateway; nothing else reads
-- or writes it (the orchestrator refuses a busy resource on its own event log).
CREATE TABLE IF NOT EXISTS gateway_resource_claims (
    resource_id text PRIMARY KEY,
    request_id text NOT NULL,
    operation text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS gateway_resource_claims_request
    ON gateway_resource_claims (request_id);

-- An operation's submission names its resource and operation, so the relay re-publishes
-- the same SubmitRequest (resource_id + operation) as the endpoint did.
ALTER TABLE gateway_submissions
    ADD COLUMN IF NOT EXISTS resource_id text,
    ADD COLUMN IF NOT EXISTS operation text;

-- The gateway: one row per accepted submission. It is the durable idempotency record
-- (same requester + Idempotency-Key = same request), the answer to GET /requests/{id}
-- before the orchestrator has projected the request, and an outbox: a row whose
-- SubmitRequest was not yet published (published_at NULL) is re-published by the
-- gateway's relay with the same message id, which the orchestrator deduplicates.
-- Owner: services/gateway.
CREATE TABLE IF NOT EXISTS gateway_submissions (
    request_id text PRIMARY KEY,
    message_id text NOT NULL UNIQUE,
    requester_id text NOT NULL,
    requester_teams text[] NOT NULL DEFAULT '{}',
    requester jsonb NOT NULL,
    idempotency_key text,
    body_hash text NOT NULL,
    item_id text NOT NULL,
    item_version text NOT NULL,
    inputs jsonb NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE UNIQUE INDEX IF NOT EXISTS gateway_submissions_idempotency
    ON gateway_submissions (requester_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS gateway_submissions_unpublished
    ON gateway_submissions (submitted_at) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS gateway_submissions_submitted
    ON gateway_submissions (submitted_at DESC);

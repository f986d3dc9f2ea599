-- The change calendar (issue #12): a request's change class and what the calendar did
-- to it (held until, escalated, denied, overridden) in the orchestrator's read model
-- (owner: services/orchestrator; `pao orchestrator rebuild` fills it for old rows), and
-- the emergency override a submission asked for, kept with the gateway's submission so
-- its relay publishes it again unchanged (owner: services/gateway).
ALTER TABLE request_view ADD COLUMN IF NOT EXISTS change jsonb;
ALTER TABLE gateway_submissions ADD COLUMN IF NOT EXISTS emergency_reason text;

-- The gateway lists resources newest first with keyset pagination: ORDER BY created_at
-- DESC, resource_id DESC, the cursor a row comparison on the same pair. 0009's team index
-- had resource_id ascending, which that order cannot walk; this one replaces it, and a
-- second serves the platform admins' unfiltered list. Owner: services/orchestrator (the
-- table's writer); the reads it serves are the gateway's (GET /api/v1/resources).
DROP INDEX IF EXISTS resource_view_team;
CREATE INDEX IF NOT EXISTS resource_view_team_newest
    ON resource_view (owner_team, created_at DESC, resource_id DESC);
CREATE INDEX IF NOT EXISTS resource_view_newest
    ON resource_view (created_at DESC, resource_id DESC);

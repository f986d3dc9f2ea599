-- Processed message ids are pruned once older than the retention (settings
-- dedup_retention_s): the orchestrator deletes by age every hour. Owner: services/orchestrator.
CREATE INDEX IF NOT EXISTS processed_messages_processed_at ON processed_messages (processed_at);

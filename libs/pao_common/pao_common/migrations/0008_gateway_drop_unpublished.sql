-- The relay's scans all name their topic (0006): gateway_submissions_topic_unpublished
-- serves them, and gateway_submissions_unpublished only cost every submission and
-- every published-mark one more index write. Owner: services/gateway.
DROP INDEX IF EXISTS gateway_submissions_unpublished;

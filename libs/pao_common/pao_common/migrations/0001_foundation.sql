-- Foundation: nothing but a marker that the schema is PAO's; later migrations add
-- the catalog version history, the event store, outbox, timers and projections.
-- Owner: the migration runner (platform, pao_common.db).
CREATE TABLE IF NOT EXISTS pao_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO pao_meta (key, value) VALUES ('schema', 'pao') ON CONFLICT DO NOTHING;

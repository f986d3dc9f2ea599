-- Catalog version history: every accepted version of every catalog document.
-- "Latest" of an item = highest semver among its non-retired versions.
-- Owner: services/catalog, its only writer.
-- A (item_id, version) row is immutable apart from retired_at: a changed document
-- under an unchanged version is refused by the catalog service.
CREATE TABLE IF NOT EXISTS catalog_item_versions (
    item_id text NOT NULL,
    version text NOT NULL,
    content_hash text NOT NULL,
    document jsonb NOT NULL,
    source_path text,
    published_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    PRIMARY KEY (item_id, version)
);

CREATE INDEX IF NOT EXISTS catalog_item_versions_live
    ON catalog_item_versions (item_id) WHERE retired_at IS NULL;

"""The ``ItemCatalog`` port over ``catalog_item_versions`` (written by the catalog service)."""

from __future__ import annotations

import json

import asyncpg
from pao_catalog_model.model import CatalogItem, parse_item
from pao_catalog_model.versions import latest_version

from pao_orchestrator.errors import ItemNotFound


class PostgresItemCatalog:
    """Pinned versions are immutable, so parsed items are cached by (id, version)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._cache: dict[tuple[str, str], CatalogItem] = {}

    async def get(self, item_id: str, version: str | None = None) -> CatalogItem:
        if version is None:
            rows = await self._pool.fetch(
                "SELECT version FROM catalog_item_versions"
                " WHERE item_id = $1 AND retired_at IS NULL",
                item_id,
            )
            version = latest_version(r["version"] for r in rows)
            if version is None:
                raise ItemNotFound(f"unknown catalog item {item_id!r}")
        cached = self._cache.get((item_id, version))
        if cached is not None:
            return cached
        document = await self._pool.fetchval(
            "SELECT document::text FROM catalog_item_versions WHERE item_id = $1 AND version = $2",
            item_id,
            version,
        )
        if document is None:
            raise ItemNotFound(f"catalog item {item_id!r} has no version {version!r}")
        item = parse_item(json.loads(document))
        self._cache[(item_id, version)] = item
        return item

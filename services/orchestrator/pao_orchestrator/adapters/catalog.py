"""The ``ItemCatalog`` port over the catalog service's HTTP API (``pao_common.catalog_api``).

The orchestrator reads no table of the catalog's: a pinned version's document is asked of
the catalog once and kept (a version never changes), parsed once; the latest version
(for a submission that pins none) comes from the catalog's list of versions, kept for a
couple of seconds. The catalog down: cached versions go on being served; an uncached one
raises ``CatalogUnavailable``, a ``ConnectionError``, so the message is retried until the
catalog answers, never rejected for an outage. Only the catalog's own 404 is
``ItemNotFound``.
"""

from __future__ import annotations

from pao_catalog_model.model import CatalogItem, parse_item
from pao_common.catalog_api import CatalogApi

from pao_orchestrator.errors import ItemNotFound


class CatalogServiceItems:
    """Pinned versions are immutable, so parsed items are kept by (id, version)."""

    def __init__(self, api: CatalogApi) -> None:
        self._api = api
        self._parsed: dict[tuple[str, str], CatalogItem] = {}

    async def get(self, item_id: str, version: str | None = None) -> CatalogItem:
        if version is None:
            listed = await self._api.versions(item_id)
            if listed is None or listed.latest is None:
                raise ItemNotFound(f"unknown catalog item {item_id!r}")
            version = listed.latest
        parsed = self._parsed.get((item_id, version))
        if parsed is not None:
            return parsed
        document = await self._api.document(item_id, version)
        if document is None:
            raise ItemNotFound(f"catalog item {item_id!r} has no version {version!r}")
        item = parse_item(document)
        self._parsed[(item_id, version)] = item
        return item

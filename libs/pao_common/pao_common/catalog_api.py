"""The catalog service's published read API, as the services that need item versions call it.

No service reads the catalog's tables (issue #15): the orchestrator and the gateway ask
``GET /api/v1/catalog/items/{id}/versions`` (which versions exist, which is the latest,
which are retired) and ``GET /api/v1/catalog/items/{id}?version=`` (a version's document).

- A recorded ``(item_id, version)`` never changes (the catalog refuses a changed document
  under an unchanged version), so a document once fetched is kept for good (a bounded
  LRU: only a miss costs a call).
- An item's list of versions does change (a new version, a retirement), so it is kept for
  ``versions_ttl_s`` and ``forget`` drops it at once (the gateway's ``pao.catalog.events``
  subscriber calls it).
- The catalog down: what is cached goes on answering, a list of versions past its TTL
  included (stale beats refused while the catalog restarts); anything else raises
  ``CatalogUnavailable``, a ``ConnectionError`` that a Kafka consumer retries and the
  gateway answers with 502. An outage is never taken for "no such item": a 404 counts as
  missing only when it is the catalog's own JSON answer, not a proxy's page or an
  unknown route.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from pao_common.errors import CatalogUnavailable

log = logging.getLogger(__name__)

ITEMS = "/api/v1/catalog/items"
# Says in the catalog's access logs (and to a stand-in catalog in tests) that a read is
# one of a service's item-version reads, not a browse call proxied for a person.
USER_AGENT = "pao-catalog-api"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    content_hash: str
    retired: bool


@dataclass(frozen=True)
class ListedVersions:
    """Every recorded version of an item, newest first, as the catalog lists them."""

    item_id: str
    latest: str | None  # the catalog's latest live version; None when every one is retired
    versions: tuple[VersionInfo, ...]

    def find(self, version: str) -> VersionInfo | None:
        return next((v for v in self.versions if v.version == version), None)

    @property
    def current(self) -> VersionInfo:
        """The version the item is shown as: the latest live one, else the newest."""
        found = self.find(self.latest) if self.latest else None
        return found or self.versions[0]


class CatalogApi:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        versions_ttl_s: float = 2.0,
        documents_kept: int = 4096,
        lists_kept: int = 4096,
    ) -> None:
        self._client = client
        self._versions_ttl_s = versions_ttl_s
        self._documents: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._documents_kept = documents_kept
        self._lists: OrderedDict[str, tuple[float, ListedVersions]] = OrderedDict()
        self._lists_kept = lists_kept
        # Counts ``forget`` calls per item, so a list fetched before the item changed is
        # not kept as if it were current.
        self._changes: dict[str, int] = {}

    def forget(self, item_id: str) -> None:
        """The item changed (``pao.catalog.events``): ask for its versions again."""
        self._lists.pop(item_id, None)
        self._changes[item_id] = self._changes.get(item_id, 0) + 1

    async def versions(self, item_id: str) -> ListedVersions | None:
        """The item's versions; None when the catalog has no such item (not kept: it may be
        on its way)."""
        now = time.monotonic()
        kept = self._lists.get(item_id)
        if kept is not None and now - kept[0] < self._versions_ttl_s:
            return kept[1]
        changes = self._changes.get(item_id, 0)
        try:
            body = await self._get(f"{ITEMS}/{quote(item_id, safe='')}/versions")
        except CatalogUnavailable as exc:
            if kept is None:
                raise
            log.warning("catalog unavailable, using %s's versions as last listed: %s", item_id, exc)
            # Kept for another TTL, so a hung catalog costs one timeout per TTL, not one
            # per call.
            if self._changes.get(item_id, 0) == changes:
                self._lists[item_id] = (now, kept[1])
            return kept[1]
        if body is None:
            self._lists.pop(item_id, None)
            return None
        listed = ListedVersions(
            item_id=item_id,
            latest=body.get("latest"),
            versions=tuple(
                VersionInfo(v["version"], v["content_hash"], v.get("retired_at") is not None)
                for v in body.get("versions", [])
            ),
        )
        if self._changes.get(item_id, 0) != changes:
            return listed  # the item changed while this was asked: the next read asks again
        self._lists[item_id] = (now, listed)
        self._lists.move_to_end(item_id)
        while len(self._lists) > self._lists_kept:
            self._lists.popitem(last=False)
        return listed

    async def document(self, item_id: str, version: str) -> dict[str, Any] | None:
        """The document of ``item_id`` at ``version`` (retired ones too); None when the
        catalog has no such version."""
        key = (item_id, version)
        found = self._documents.get(key)
        if found is not None:
            self._documents.move_to_end(key)
            return found
        detail = await self._detail(item_id, version)
        return detail["document"] if detail is not None else None

    async def version(self, item_id: str, version: str) -> VersionInfo | None:
        """One version asked for by itself (not kept: its retirement may change), for a
        version missing from a list that may be behind: a catalog replica serves every
        version the shared history records, listed yet or not."""
        detail = await self._detail(item_id, version)
        if detail is None:
            return None
        return VersionInfo(version, detail["content_hash"], detail.get("retired_at") is not None)

    async def _detail(self, item_id: str, version: str) -> dict[str, Any] | None:
        body = await self._get(f"{ITEMS}/{quote(item_id, safe='')}", {"version": version})
        if body is None:
            return None
        self._documents[(item_id, version)] = body["document"]
        while len(self._documents) > self._documents_kept:
            self._documents.popitem(last=False)
        detail: dict[str, Any] = body
        return detail

    async def current_versions(self) -> dict[str, str]:
        """Every item the catalog holds (retired ones included), with the version it is
        shown as (``ListedVersions.current``)."""
        ids: dict[str, str] = {}
        cursor: str | None = None
        while True:
            params = {"include_retired": "true", "limit": "500"}
            if cursor is not None:
                params["cursor"] = cursor
            body = await self._get(ITEMS, params)
            if body is None:
                raise CatalogUnavailable(f"the catalog answered 404 for {ITEMS}")
            ids.update((str(i["id"]), str(i["version"])) for i in body.get("items", []))
            cursor = body.get("next_cursor")
            if not cursor:
                return ids

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The JSON answer, or None for a 404; ``CatalogUnavailable`` for anything but 200."""
        try:
            response = await self._client.get(
                path, params=params, headers={"User-Agent": USER_AGENT}
            )
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"catalog service unreachable: {exc!r}") from exc
        if response.status_code == 404:
            if _catalog_says_missing(response):
                return None
            raise CatalogUnavailable(
                f"{path} answered 404 without the catalog's answer (a proxy, or a wrong"
                f" PAO_CATALOG_URL?): {response.text[:200]}"
            )
        if response.status_code != 200:
            raise CatalogUnavailable(
                f"catalog service answered {response.status_code} for {path}: {response.text[:200]}"
            )
        return response.json()


# What FastAPI answers for a route it does not have: a wrong base URL or prefix, not a
# missing item.
_NO_SUCH_ROUTE = "Not Found"


def _catalog_says_missing(response: httpx.Response) -> bool:
    """A 404 is "no such item or version" only when it is the catalog's own answer (JSON
    naming what is missing); a proxy's or load balancer's 404 page, or an unknown route,
    is an unreachable catalog, never a missing item that would fail a running request."""
    if "json" not in response.headers.get("content-type", ""):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    detail = body.get("detail") if isinstance(body, dict) else None
    return isinstance(detail, str) and detail != _NO_SUCH_ROUTE

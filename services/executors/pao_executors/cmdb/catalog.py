"""The item versions' CMDB mappings, from the catalog service's HTTP API.

``GET /api/v1/catalog/items/{id}?version=`` answers the version's ``cmdb`` (null when
the item declares none). A recorded version never changes, so each answer is kept (a
bounded LRU); only a miss costs a call.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import quote

import httpx

from pao_executors.cmdb.errors import CatalogUnavailable, UnknownItemVersion
from pao_executors.cmdb.mapping import CiMapping

PATH = "/api/v1/catalog/items/{item_id}"


class CatalogMappings:
    def __init__(self, client: httpx.AsyncClient, *, cache_size: int = 1024) -> None:
        self._client = client
        self._cache: OrderedDict[tuple[str, str], CiMapping | None] = OrderedDict()
        self._cache_size = cache_size
        self.fetches = 0

    async def mapping(self, item_id: str, version: str) -> CiMapping | None:
        """The mapping of ``item_id`` at ``version``; None when it maps to no CI."""
        key = (item_id, version)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        found = await self._fetch(item_id, version)
        self._cache[key] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found

    async def _fetch(self, item_id: str, version: str) -> CiMapping | None:
        self.fetches += 1
        path = PATH.format(item_id=quote(item_id, safe=""))
        try:
            response = await self._client.get(path, params={"version": version})
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"catalog: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 404:
            raise UnknownItemVersion(
                f"the catalog has no item {item_id!r} version {version!r}: {response.text[:300]}"
            )
        if not response.is_success:
            raise CatalogUnavailable(f"catalog answered HTTP {response.status_code}")
        cmdb = response.json().get("cmdb")
        return CiMapping.from_api(cmdb) if isinstance(cmdb, dict) else None

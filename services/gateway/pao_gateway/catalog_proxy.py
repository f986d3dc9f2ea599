"""The catalog browse API, proxied from the catalog service and cached in Redis.

Cache keys carry generation counters: one per item, one for the list pages and a
global epoch. ``pao.catalog.events`` bump the item's and the list's generation,
so a response fetched before an invalidation is written under the old generation
and never read again (no stale write-after-invalidate race). Entries also expire
after a TTL, the net under a missed event. Only 200 answers are cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from pao_common.cloudevents import CloudEvent
from pao_common.messages import CatalogItemPublished, CatalogItemRetired, Message

from pao_gateway.errors import CatalogUnavailable
from pao_gateway.fastpath import FastPath

log = logging.getLogger(__name__)

LIST_SCOPE = "list"


@dataclass(frozen=True)
class CatalogAnswer:
    status_code: int
    body: bytes
    content_type: str
    cached: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


class CatalogCache:
    def __init__(self, fastpath: FastPath, *, ttl_s: int) -> None:
        self._redis = fastpath
        self._ttl_s = ttl_s
        fastpath.on_recovered.append(self.flush)

    def _gen_keys(self, scope: str) -> list[str]:
        return [self._redis.key("catalog", "epoch"), self._redis.key("catalog", "gen", scope)]

    async def entry_key(self, scope: str, request_key: str) -> str | None:
        """The key of the entry for this request under the current generations."""
        keys = self._gen_keys(scope)
        gens = await self._redis.call("mget", lambda r: r.mget(keys))
        if gens is None:
            return None
        epoch, gen = (int(g) if g is not None else 0 for g in gens)
        digest = hashlib.sha256(request_key.encode()).hexdigest()[:32]
        return self._redis.key("catalog", "entry", str(epoch), scope, str(gen), digest)

    async def get(self, key: str) -> CatalogAnswer | None:
        raw = await self._redis.get(key)
        if raw is None:
            return None
        content_type, _, body = raw.partition(b"\n")
        return CatalogAnswer(200, body, content_type.decode(), cached=True)

    async def put(self, key: str, answer: CatalogAnswer) -> None:
        await self._redis.set(key, answer.content_type.encode() + b"\n" + answer.body, self._ttl_s)

    async def invalidate(self, item_id: str) -> None:
        keys = [
            self._redis.key("catalog", "gen", item_id),
            self._redis.key("catalog", "gen", LIST_SCOPE),
        ]

        async def bump(r: Any) -> Any:
            async with r.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.incr(key)
                return await pipe.execute()

        await self._redis.call("invalidate", bump, write=True)

    async def flush(self) -> None:
        """Make every entry unreachable (after Redis missed invalidations)."""
        key = self._redis.key("catalog", "epoch")
        await self._redis.call("flush", lambda r: r.incr(key), write=True)

    async def on_catalog_event(self, message: Message, event: CloudEvent) -> None:
        """Subscriber of ``pao.catalog.events``: forget what we cached about the item."""
        if isinstance(message, CatalogItemPublished | CatalogItemRetired):
            await self.invalidate(message.item_id)
            log.info("catalog cache invalidated for %s %s", message.item_id, message.version)


class CatalogProxy:
    """Forwards browse calls to the catalog service, through the cache for GETs."""

    def __init__(self, client: httpx.AsyncClient, cache: CatalogCache) -> None:
        self._client = client
        self.cache = cache

    async def get(self, path: str, params: list[tuple[str, str]], *, scope: str) -> CatalogAnswer:
        request_key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params))
        key = await self.cache.entry_key(scope, request_key)
        if key is not None and (hit := await self.cache.get(key)) is not None:
            return hit
        answer = await self._forward("GET", path, params=params)
        if key is not None and answer.status_code == 200:
            await self.cache.put(key, answer)
        return answer

    async def post(self, path: str, body: Any) -> CatalogAnswer:
        return await self._forward("POST", path, json_body=body)

    async def _forward(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: Any = None,
    ) -> CatalogAnswer:
        try:
            query = httpx.QueryParams(tuple(params or ()))
            response = await self._client.request(method, path, params=query, json=json_body)
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"catalog service unreachable: {exc!r}") from exc
        if response.status_code >= 500:
            raise CatalogUnavailable(
                f"catalog service answered {response.status_code}: {response.text[:200]}"
            )
        return CatalogAnswer(
            response.status_code,
            response.content,
            response.headers.get("content-type", "application/json"),
        )

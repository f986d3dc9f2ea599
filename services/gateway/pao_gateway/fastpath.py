"""Redis as a fast path only: every call has a short budget and a fallback.

Redis holds nothing the gateway cannot rebuild (catalog responses, idempotency
hints whose truth is in PostgreSQL), so a call that fails or runs out of time
answers "miss" and the caller takes the slow path. After a failure Redis is left
alone for ``cooldown_s``, so an outage costs one timeout, not one per request.
A write that failed may have left the cache stale (a missed invalidation): when
Redis answers again, ``on_recovered`` runs (the catalog cache bumps its epoch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from prometheus_client import Counter

log = logging.getLogger(__name__)

T = TypeVar("T")

REDIS_FALLBACKS = Counter(
    "pao_gateway_redis_fallbacks_total", "Redis calls skipped or failed (slow path taken)", ["op"]
)


class FastPath:
    def __init__(
        self,
        client: Callable[[], aioredis.Redis | None],
        *,
        prefix: str,
        timeout_s: float,
        cooldown_s: float,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self._timeout_s = timeout_s
        self._cooldown_s = cooldown_s
        self._down_until = 0.0
        self._dirty = False
        self.on_recovered: list[Callable[[], Awaitable[None]]] = []

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def available(self) -> bool:
        return self._client() is not None and time.monotonic() >= self._down_until

    async def call(
        self, op: str, fn: Callable[[aioredis.Redis], Awaitable[T]], *, write: bool = False
    ) -> T | None:
        """``fn(redis)`` within the budget, or ``None`` when Redis is off, down or slow."""
        client = self._client()
        if client is None or time.monotonic() < self._down_until:
            REDIS_FALLBACKS.labels(op).inc()
            self._dirty = self._dirty or write
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await fn(client)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            if self._down_until == 0.0:
                log.warning("redis unavailable (%s: %r); using the slow path", op, exc)
            self._down_until = time.monotonic() + self._cooldown_s
            self._dirty = self._dirty or write
            REDIS_FALLBACKS.labels(op).inc()
            return None
        if self._down_until:
            log.info("redis is back")
            self._down_until = 0.0
        if self._dirty:
            self._dirty = False
            for hook in self.on_recovered:
                await hook()
        return result

    async def get(self, key: str) -> bytes | None:
        value: Any = await self.call("get", lambda r: r.get(key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes | str, ttl_s: int) -> None:
        await self.call("set", lambda r: r.set(key, value, ex=ttl_s), write=True)

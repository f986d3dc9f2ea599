"""A cap on the live (SSE) streams one user holds open, across the gateway's replicas.

A stream holds a connection, a queue and a read-model poll for as long as its request
runs, possibly hours; a client that opens them in a loop would exhaust the gateway. A
user may hold ``per_user`` at once; the next one is refused with 429 (``Retry-After``
is a hint: a slot frees when one of their streams ends, which cannot be foretold).

The count is shared through Redis as leases: a sorted set per user,
``<prefix>gw:streams:<user>``, of the open streams with the time (Redis's clock) their
lease ends. Taking a slot drops the lapsed leases, counts and adds, in one Lua call;
each replica renews the leases of its own streams every ``lease_s / 3`` (re-adding any
Redis lost) and removes a lease when its stream ends. A replica that dies leaves its
leases to lapse within ``lease_s``, so its streams never count for longer.

With Redis down or slow the replica counts only its own streams: a user may then hold
up to N times the cap over N replicas. A slot is taken after the caller may see the
request and given back when the response ends in any way: the request ends, the
client disconnects, the server shuts down.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.commands.core import AsyncScript
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from pao_gateway.errors import TooManyStreams
from pao_gateway.fastpath import FastPath

STREAMS_OPEN = Gauge("pao_gateway_sse_streams_open", "Live streams open on this replica")
STREAMS_REFUSED = Counter(
    "pao_gateway_sse_streams_refused_total", "Live streams refused with 429 (over the cap)"
)
RETRY_AFTER_S = 5
LEASE_S = 30.0

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
# KEYS[1]: the user's leases. ARGV: stream, cap, lease (ms). {1, open} or {0, open}.
TAKE_LUA = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[2]) then return {0, open} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, open + 1}
"""
)
# KEYS[1]: the user's leases. ARGV: lease (ms), then the streams held here.
RENEW_LUA = (
    _NOW_MS
    + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
"""
)


class StreamSlot:
    """One held slot; ``release`` gives it back (once, however often it is called)."""

    def __init__(self, slots: StreamSlots, user_id: str, stream: str) -> None:
        self._slots = slots
        self.user_id = user_id
        self.stream = stream
        self._held = True

    async def release(self) -> None:
        if self._held:
            self._held = False
            await self._slots._release(self)


class StreamSlots:
    def __init__(self, fastpath: FastPath, per_user: int, *, lease_s: float = LEASE_S) -> None:
        self.per_user = per_user
        self.lease_s = lease_s
        self._fastpath = fastpath
        self._held: defaultdict[str, set[str]] = defaultdict(set)  # user -> streams here
        self._scripts: dict[str, AsyncScript] = {}
        self._client: aioredis.Redis | None = None

    def key(self, user_id: str) -> str:
        return self._fastpath.key("streams", user_id)

    def open_for(self, user_id: str) -> int:
        """Streams of ``user_id`` open on this replica."""
        return len(self._held.get(user_id, ()))

    def _script(self, client: aioredis.Redis, name: str, lua: str) -> AsyncScript:
        if client is not self._client:
            self._client, self._scripts = client, {}
        if name not in self._scripts:
            self._scripts[name] = client.register_script(lua)
        return self._scripts[name]

    async def _take(self, client: aioredis.Redis, user_id: str, stream: str) -> tuple[bool, int]:
        script = self._script(client, "take", TAKE_LUA)
        lease_ms = int(self.lease_s * 1000)
        answer: Any = await script(keys=[self.key(user_id)], args=[stream, self.per_user, lease_ms])
        return bool(int(answer[0])), int(answer[1])

    async def acquire(self, user_id: str) -> StreamSlot:
        """A slot for one more stream of ``user_id``, or ``TooManyStreams``."""
        stream = uuid.uuid4().hex
        if self.per_user > 0:
            taken = await self._fastpath.call("sse_take", lambda r: self._take(r, user_id, stream))
            if taken is None:  # Redis unavailable: this replica's own count
                open_now = self.open_for(user_id)
                taken = (open_now < self.per_user, open_now)
            allowed, open_now = taken
            if not allowed:
                STREAMS_REFUSED.inc()
                raise TooManyStreams(
                    f"{user_id} already follows {open_now} requests live"
                    f" (at most {self.per_user} streams per user); close one or retry later",
                    retry_after_s=RETRY_AFTER_S,
                )
        self._held[user_id].add(stream)
        STREAMS_OPEN.inc()
        return StreamSlot(self, user_id, stream)

    async def _release(self, slot: StreamSlot) -> None:
        held = self._held.get(slot.user_id)
        if held is not None:
            held.discard(slot.stream)
            if not held:
                del self._held[slot.user_id]
        STREAMS_OPEN.dec()
        if self.per_user > 0:  # should this fail, the lease lapses instead
            await self._fastpath.call(
                "sse_release", lambda r: r.zrem(self.key(slot.user_id), slot.stream)
            )

    async def renew(self) -> None:
        """Extend the leases of the streams open here (every ``lease_s / 3``)."""
        if self.per_user <= 0:
            return
        lease_ms = int(self.lease_s * 1000)
        for user_id, streams in list(self._held.items()):
            key, members = self.key(user_id), sorted(streams)

            async def extend(
                r: aioredis.Redis, key: str = key, members: list[str] = members
            ) -> Any:
                return await self._script(r, "renew", RENEW_LUA)(
                    keys=[key], args=[lease_ms, *members]
                )

            if await self._fastpath.call("sse_renew", extend) is None:
                return  # Redis unavailable: the next round tries again


class SlotHoldingEventSource(EventSourceResponse):
    """An SSE response that gives its ``slot`` back however it ends."""

    def __init__(self, *args: Any, slot: StreamSlot, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.slot.release()

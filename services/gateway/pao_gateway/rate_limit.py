"""Per-user rate limit on submissions: GCRA, in Redis, per replica while Redis is down.

GCRA (the generic cell rate algorithm of ATM networks; redis-cell uses it too) keeps one
number per user, the theoretical arrival time (TAT): when the user's next request would
be due if they had kept exactly to the rate. A request at ``now`` is allowed when
``max(TAT, now) + interval - burst * interval <= now``, and then moves the TAT on by one
``interval``; so ``burst`` requests may come at once, and after that one every
``interval``. A refused request changes nothing, and says exactly when the next one
will be allowed (``Retry-After``).

With Redis, the TAT lives under ``<prefix>gw:limit:submit:<user>`` and one Lua script
reads, decides and writes it atomically in one round trip, on Redis's clock (replicas'
clocks may disagree), expiring when the TAT is past (an idle user costs no memory).
When Redis is down or slow (``FastPath``'s breaker), each replica applies the same
algorithm in process: with N replicas a user may then get up to N times the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.commands.core import AsyncScript

from pao_gateway.errors import RateLimited
from pao_gateway.fastpath import FastPath
from pao_gateway.identity import User

SUBMISSIONS_LIMITED = Counter(
    "pao_gateway_submissions_rate_limited_total", "Submissions refused with 429", ["store"]
)

# KEYS[1]: the user's TAT, µs on Redis's clock. ARGV: interval (µs), burst.
# Returns {1, 0} when allowed, {0, µs until allowed} when not.
GCRA_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allowed_at = new_tat - interval * burst
if now < allowed_at then
  return {0, math.ceil(allowed_at - now)}
end
-- at least 1 ms: an interval under the TAT's resolution (µs in a double) leaves it unmoved
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, 0}
"""


@dataclass(frozen=True)
class Rate:
    """``per_minute`` sustained, ``burst`` at once; either at 0 switches the limit off."""

    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0 and self.burst > 0

    @property
    def interval_s(self) -> float:
        return 60.0 / self.per_minute


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0


def gcra(tat: float | None, now: float, rate: Rate) -> tuple[Verdict, float | None]:
    """The verdict on a request at ``now`` and the TAT after it (pure; seconds)."""
    interval = rate.interval_s
    new_tat = max(now if tat is None else tat, now) + interval
    allowed_at = new_tat - interval * rate.burst
    if now < allowed_at:
        return Verdict(False, allowed_at - now), tat
    return Verdict(True), new_tat


class LocalRateLimiter:
    """GCRA in this process: the fallback while Redis is unavailable."""

    def __init__(self, rate: Rate, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._prune_above = 1024

    @property
    def tracked(self) -> int:
        """Users with an entry (the idle ones are dropped when the table doubles)."""
        return len(self._tats)

    def check(self, key: str) -> Verdict:
        now = self._clock()
        verdict, tat = gcra(self._tats.get(key), now, self.rate)
        if verdict.allowed and tat is not None:
            self._tats[key] = tat
            if len(self._tats) > self._prune_above:
                self._prune(now)
        return verdict

    def _prune(self, now: float) -> None:
        # A TAT in the past is the same as none: such users start afresh either way.
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._prune_above = max(1024, 2 * len(self._tats))


class SubmissionRateLimiter:
    """``check(user)`` raises ``RateLimited`` when the user submits faster than ``rate``."""

    def __init__(
        self,
        fastpath: FastPath,
        rate: Rate,
        *,
        exempt_roles: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self._fastpath = fastpath
        self._exempt_roles = exempt_roles
        self._local = LocalRateLimiter(rate, clock=clock)
        self._script: AsyncScript | None = None

    def key(self, user_id: str) -> str:
        return self._fastpath.key("limit", "submit", user_id)

    async def _in_redis(self, client: aioredis.Redis, user_id: str) -> Verdict:
        if self._script is None or self._script.registered_client is not client:
            self._script = client.register_script(GCRA_LUA)
        interval_us = self.rate.interval_s * 1_000_000
        answer: Any = await self._script(
            keys=[self.key(user_id)], args=[repr(interval_us), self.rate.burst]
        )
        allowed, wait_us = int(answer[0]), int(answer[1])
        return Verdict(bool(allowed), wait_us / 1_000_000)

    async def check(self, user: User) -> None:
        if not self.rate.enabled or self._exempt_roles.intersection(user.roles):
            return
        store = "redis"
        verdict = await self._fastpath.call("rate_limit", lambda r: self._in_redis(r, user.id))
        if verdict is None:
            store = "local"
            verdict = self._local.check(user.id)
        if verdict.allowed:
            return
        SUBMISSIONS_LIMITED.labels(store).inc()
        retry_after_s = max(1, math.ceil(verdict.retry_after_s))
        raise RateLimited(
            f"too many submissions: at most {self.rate.per_minute:g} a minute"
            f" (bursts of {self.rate.burst}) per user; retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

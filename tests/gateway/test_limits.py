"""Gateway limits: 413 over the body size (by Content-Length and counted when chunked),
429 + Retry-After over the submission rate (in Redis, and per replica with Redis down),
429 over the live-stream cap, and a stream's slot back when it ends or the client leaves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from pao_gateway.body_limit import BodySizeLimit
from pao_gateway.errors import RateLimited, TooManyStreams
from pao_gateway.fastpath import FastPath
from pao_gateway.http import Gateway
from pao_gateway.identity import User
from pao_gateway.rate_limit import LocalRateLimiter, Rate, SubmissionRateLimiter
from pao_gateway.stream_slots import StreamSlots

from tests.gateway.conftest import (
    Issuer,
    JsonServer,
    RunningGateway,
    eventually,
    gateway_settings,
    insert_view,
    item_document,
    publish_version,
    run_gateway,
)
from tests.gateway.test_live import sse
from tests.gateway.test_redis_down import closed_port

pytestmark = pytest.mark.integration

BODY_LIMIT = 1024
WEBHOOK_LIMIT = 4096
LIMITS = {
    "gateway_max_body_bytes": BODY_LIMIT,
    "gateway_webhook_max_body_bytes": WEBHOOK_LIMIT,
    "gateway_submit_rate_per_min": 1.0,  # once the burst is spent, one a minute
    "gateway_submit_burst": 2,
    "gateway_sse_streams_per_user": 1,
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the algorithm, in process -----------------------------------------------------------


def test_local_gcra_allows_the_burst_then_one_per_interval() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(Rate(per_minute=6, burst=3), clock=clock)  # one per 10 s
    assert [limiter.check("ann").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.check("ann")
    assert not refused.allowed and refused.retry_after_s == pytest.approx(10.0)
    assert limiter.check("bob").allowed, "the limit is per user"
    clock.now += 4.0
    again = limiter.check("ann")
    assert not again.allowed and again.retry_after_s == pytest.approx(6.0), "refusals are free"
    clock.now += 6.0
    assert limiter.check("ann").allowed
    assert not limiter.check("ann").allowed, "one slot came back, not the burst"
    clock.now += 30.0  # idle for three intervals: three slots back, never more than the burst
    assert [limiter.check("ann").allowed for _ in range(4)] == [True, True, True, False]


def test_local_gcra_forgets_idle_users() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(Rate(per_minute=60, burst=1), clock=clock)
    for n in range(1025):
        assert limiter.check(f"old-{n}").allowed
    assert limiter.tracked == 1025, "nobody is idle yet"
    clock.now += 2.0  # every old user is idle again: their entries are worth nothing now
    for n in range(1026):
        assert limiter.check(f"new-{n}").allowed
    assert limiter.tracked == 1026, "the old ones went when the table grew past twice 1025"


# --- the limiter on Redis, and falling back ----------------------------------------------


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def fastpath_on(client: aioredis.Redis | None) -> FastPath:
    return FastPath(
        lambda: client, prefix=f"pao-test:{uuid.uuid4().hex[:8]}:gw:", timeout_s=1, cooldown_s=60
    )


async def test_redis_limiter_refuses_with_retry_after_then_allows_again(
    redis_client: aioredis.Redis,
) -> None:
    # 1200 a minute: one per 50 ms, so "allowed again" comes soon (waited for, not timed).
    limiter = SubmissionRateLimiter(fastpath_on(redis_client), Rate(per_minute=1200, burst=3))
    ann, bob = User(id="ann"), User(id="bob")
    for _ in range(3):
        await limiter.check(ann)
    with pytest.raises(RateLimited, match="at most 1200 a minute") as refused:
        await limiter.check(ann)
    assert refused.value.retry_after_s == 1, "whole seconds, at least 1"
    await limiter.check(bob)

    async def allowed_again() -> bool:
        try:
            await limiter.check(ann)
        except RateLimited:
            return False
        return True

    await eventually(allowed_again, timeout_s=10)


async def test_redis_limiter_is_shared_by_replicas(redis_client: aioredis.Redis) -> None:
    fastpath = fastpath_on(redis_client)
    rate = Rate(per_minute=1, burst=2)
    one, two = SubmissionRateLimiter(fastpath, rate), SubmissionRateLimiter(fastpath, rate)
    await one.check(User(id="ann"))
    await two.check(User(id="ann"))
    with pytest.raises(RateLimited) as refused:
        await one.check(User(id="ann"))
    assert 55 <= refused.value.retry_after_s <= 60
    ttl_ms = await redis_client.pttl(one.key("ann"))
    assert 60_000 < ttl_ms <= 120_000, "the key goes once the user is idle again"


async def test_redis_limiter_takes_any_rate(redis_client: aioredis.Redis) -> None:
    """An interval under the resolution of the TAT (µs as a double): the TAT does not move,
    and the key still needs an expiry of at least 1 ms."""
    fastpath = fastpath_on(redis_client)
    limiter = SubmissionRateLimiter(fastpath, Rate(per_minute=1e9, burst=1))
    await limiter.check(User(id="ann"))
    assert fastpath.available, "the script ran (a Redis error would have tripped the breaker)"


async def test_limiter_without_redis_holds_per_replica() -> None:
    down = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    clock = FakeClock()
    try:
        limiter = SubmissionRateLimiter(fastpath_on(down), Rate(per_minute=1, burst=2), clock=clock)
        await limiter.check(User(id="ann"))
        await limiter.check(User(id="ann"))
        with pytest.raises(RateLimited) as refused:
            await limiter.check(User(id="ann"))
        assert refused.value.retry_after_s == 60
        clock.now += 60
        await limiter.check(User(id="ann"))
    finally:
        await down.aclose()


async def test_exempt_roles_are_not_limited_and_admins_are_by_default(
    redis_client: aioredis.Redis,
) -> None:
    rate = Rate(per_minute=1, burst=1)
    fastpath = fastpath_on(redis_client)
    admin = User(id="root", roles=("platform-admin",))
    strict = SubmissionRateLimiter(fastpath, rate)
    await strict.check(admin)
    with pytest.raises(RateLimited):
        await strict.check(admin)
    lenient = SubmissionRateLimiter(fastpath, rate, exempt_roles=frozenset({"platform-admin"}))
    for _ in range(3):
        await lenient.check(admin)


# --- the live-stream cap, shared by replicas through Redis --------------------------------


async def test_replicas_share_the_stream_cap(redis_client: aioredis.Redis) -> None:
    fastpath = fastpath_on(redis_client)
    one, two = StreamSlots(fastpath, 2), StreamSlots(fastpath, 2)
    first = await one.acquire("ann")
    await two.acquire("ann")
    with pytest.raises(TooManyStreams, match="already follows 2 requests live") as refused:
        await one.acquire("ann")
    assert refused.value.retry_after_s > 0
    await two.acquire("bob")
    await first.release()
    await first.release()  # once only
    assert one.open_for("ann") == 0 and two.open_for("ann") == 1
    assert await redis_client.zcard(one.key("ann")) == 1
    await two.acquire("ann")
    with pytest.raises(TooManyStreams):
        await one.acquire("ann")


async def test_a_dead_replicas_streams_lapse(redis_client: aioredis.Redis) -> None:
    fastpath = fastpath_on(redis_client)
    dead = StreamSlots(fastpath, 1, lease_s=0.2)
    await dead.acquire("ann")  # never renewed nor released: its replica died
    alive = StreamSlots(fastpath, 1, lease_s=0.2)
    with pytest.raises(TooManyStreams):
        await alive.acquire("ann")

    async def acquired() -> bool:
        try:
            await alive.acquire("ann")
        except TooManyStreams:
            return False
        return True

    await eventually(acquired, timeout_s=10)


async def test_renewal_puts_back_what_redis_lost(redis_client: aioredis.Redis) -> None:
    fastpath = fastpath_on(redis_client)
    here, there = StreamSlots(fastpath, 1), StreamSlots(fastpath, 1)
    await here.acquire("ann")
    await redis_client.delete(here.key("ann"))  # e.g. Redis restarted empty
    await here.renew()
    with pytest.raises(TooManyStreams):
        await there.acquire("ann")
    ttl_ms = await redis_client.pttl(here.key("ann"))
    assert 0 < ttl_ms <= here.lease_s * 1000


async def test_without_redis_the_stream_cap_holds_per_replica() -> None:
    down = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        slots = StreamSlots(fastpath_on(down), 1)
        slot = await slots.acquire("ann")
        with pytest.raises(TooManyStreams):
            await slots.acquire("ann")
        await slots.renew()  # nothing to renew it in; no error either
        await slot.release()
        await slots.acquire("ann")
    finally:
        await down.aclose()


# --- the body size limit on its own ------------------------------------------------------


def body_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/hooks/big")
    async def big(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_middleware(BodySizeLimit, limit=100, by_prefix={"/hooks/": 1000})
    return app


async def chunks(count: int, size: int = 40) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


async def test_body_limit_counts_chunked_bodies_and_honours_prefixes() -> None:
    transport = httpx.ASGITransport(body_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        small = await client.post("/echo", content=chunks(2))
        assert small.status_code == 200 and small.json() == {"received": 80}
        big = await client.post("/echo", content=chunks(3))
        assert big.status_code == 413
        assert big.json() == {"detail": "request body larger than 100 bytes"}
        announced = await client.post("/echo", content=b"x" * 101)
        assert announced.status_code == 413 and announced.json() == big.json()
        hook = await client.post("/hooks/big", content=chunks(20))
        assert hook.status_code == 200 and hook.json() == {"received": 800}
        too_big_hook = await client.post("/hooks/big", content=chunks(30))
        assert too_big_hook.json() == {"detail": "request body larger than 1000 bytes"}


# --- through the gateway, with Redis and without -----------------------------------------


@pytest.fixture(scope="module")
async def limited_gateway(
    kafka_bootstrap: str,
    database_url: str,
    redis_url: str,
    issuer: Issuer,
    catalog_service: JsonServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(
        kafka_bootstrap,
        database_url,
        redis_url,
        issuer,
        catalog_service.url,
        Path(tmp_path_factory.mktemp("limited")),
        **LIMITS,
    )
    async for running in run_gateway(settings):
        yield running


@pytest.fixture(scope="module")
async def limited_gateway_without_redis(
    kafka_bootstrap: str,
    database_url: str,
    issuer: Issuer,
    catalog_service: JsonServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(
        kafka_bootstrap,
        database_url,
        f"redis://127.0.0.1:{closed_port()}/0",
        issuer,
        catalog_service.url,
        Path(tmp_path_factory.mktemp("limited-no-redis")),
        **LIMITS,
    )
    async for running in run_gateway(settings):
        yield running


@pytest.fixture(params=["redis", "no-redis"])
def any_limited_gateway(request: pytest.FixtureRequest) -> RunningGateway:
    name = "limited_gateway" if request.param == "redis" else "limited_gateway_without_redis"
    running: RunningGateway = request.getfixturevalue(name)
    return running


def person(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def test_body_over_the_limit_is_413_by_length_and_chunked(
    limited_gateway: RunningGateway, issuer: Issuer
) -> None:
    client, headers = limited_gateway.client, issuer.headers(person("ann"))
    padding = "p" * BODY_LIMIT
    body = f'{{"item_id": "x", "inputs": {{"padding": "{padding}"}}}}'.encode()
    by_length = await client.post("/api/v1/requests", content=body, headers=headers)
    assert by_length.status_code == 413
    assert by_length.json() == {"detail": f"request body larger than {BODY_LIMIT} bytes"}
    assert by_length.headers["x-request-id"], "inside ObserveRequests"

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    chunked = await client.post("/api/v1/requests", content=streamed(), headers=headers)
    assert chunked.status_code == 413 and chunked.json() == by_length.json()

    small = await client.post(
        "/api/v1/requests", content=b'{"item_id": "no-such-item", "inputs": {}}', headers=headers
    )
    assert small.status_code != 413


async def test_webhooks_have_their_own_body_limit(limited_gateway: RunningGateway) -> None:
    client = limited_gateway.client
    hook = "/api/v1/webhooks/jira"
    within = await client.post(hook, content=b"{" + b" " * (WEBHOOK_LIMIT - 2) + b"}")
    assert within.status_code == 503, "past the size check: no webhook secret configured here"
    over = await client.post(hook, content=b"{" + b" " * WEBHOOK_LIMIT + b"}")
    assert over.status_code == 413
    assert over.json() == {"detail": f"request body larger than {WEBHOOK_LIMIT} bytes"}


async def test_submissions_over_the_rate_are_429_with_retry_after(
    any_limited_gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    gateway = any_limited_gateway
    item_id = f"item-{uuid.uuid4().hex[:8]}"
    await publish_version(db_pool, item_document(item_id))
    ann, bob = issuer.headers(person("ann")), issuer.headers(person("bob"))
    url = "/api/v1/requests"

    def body(name: str) -> dict[str, object]:
        return {"item_id": item_id, "inputs": {"name": name}}

    first = await gateway.client.post(url, json=body("a"), headers={**ann, "Idempotency-Key": "1"})
    assert first.status_code == 202, first.text
    for _ in range(3):  # replays create nothing and are not counted
        replay = await gateway.client.post(
            url, json=body("a"), headers={**ann, "Idempotency-Key": "1"}
        )
        assert replay.status_code == 202 and replay.json()["id"] == first.json()["id"]
    second = await gateway.client.post(url, json=body("b"), headers=ann)
    assert second.status_code == 202, second.text

    refused = await gateway.client.post(url, json=body("c"), headers=ann)
    assert refused.status_code == 429
    retry_after = refused.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert refused.json() == {
        "detail": "too many submissions: at most 1 a minute (bursts of 2) per user;"
        f" retry in {retry_after} s",
        "retry_after_s": int(retry_after),
    }
    keyed = await gateway.client.post(url, json=body("d"), headers={**ann, "Idempotency-Key": "2"})
    assert keyed.status_code == 429, "a new key is a new submission"
    replay = await gateway.client.post(url, json=body("a"), headers={**ann, "Idempotency-Key": "1"})
    assert replay.status_code == 202, "a replay is answered even over the limit"
    other = await gateway.client.post(url, json=body("e"), headers=bob)
    assert other.status_code == 202, "another user has a limit of their own"


def component(gateway: RunningGateway) -> Gateway:
    found: Gateway = gateway.app.state.gateway
    return found


async def test_live_streams_over_the_cap_are_429_and_a_closed_one_frees_its_slot(
    any_limited_gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    gateway = any_limited_gateway
    slots = component(gateway).stream_slots
    owner = person("ann")
    running, other = (f"r-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for request_id in (running, other):
        await insert_view(db_pool, request_id, requester=owner, status="in_progress")
    headers = issuer.headers(owner)

    async with gateway.client.stream(
        "GET", f"/api/v1/requests/{running}/stream", headers=headers
    ) as first:
        assert first.status_code == 200
        events = sse(first)
        assert isinstance(events, AsyncGenerator)
        name, data, _ = await anext(events)
        assert (name, data["status"]) == ("state", "in_progress")
        assert slots.open_for(owner) == 1

        refused = await gateway.client.get(f"/api/v1/requests/{other}/stream", headers=headers)
        assert refused.status_code == 429
        assert refused.headers["retry-after"].isdigit()
        assert "at most 1 streams per user" in refused.json()["detail"]
        await events.aclose()
    # The client went away mid-stream: the server notices and gives the slot back.

    async def released() -> bool:
        return slots.open_for(owner) == 0

    await eventually(released)
    async with gateway.client.stream(
        "GET", f"/api/v1/requests/{other}/stream", headers=headers
    ) as again:
        assert again.status_code == 200
        name, _, _ = await anext(sse(again))
        assert name == "state"


async def test_a_stream_that_ends_frees_its_slot(
    limited_gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    slots = component(limited_gateway).stream_slots
    owner = person("ann")
    done = f"r-{uuid.uuid4().hex[:8]}"
    await insert_view(db_pool, done, requester=owner, status="completed")
    headers = issuer.headers(owner)
    for _ in range(2):  # the cap is 1: the second one opens only if the first gave back
        async with limited_gateway.client.stream(
            "GET", f"/api/v1/requests/{done}/stream", headers=headers
        ) as response:
            assert response.status_code == 200
            names = [name async for name, _, _ in sse(response)]
        assert names == ["state", "end"]
        await eventually(lambda: _zero(slots.open_for(owner)))
    eve = person("eve")
    invisible = await limited_gateway.client.get(
        f"/api/v1/requests/{done}/stream", headers=issuer.headers(eve)
    )
    assert invisible.status_code == 404
    assert slots.open_for(eve) == 0, "a refused stream takes no slot"


async def _zero(value: int) -> bool:
    return value == 0

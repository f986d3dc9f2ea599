"""Redis down (its URL points at a closed port): submitting, reading and browsing still
work, slower, not wrong. The same gateway also shows the SSE fallback (it re-reads the
read model); and a catalog service that does not answer is a 502."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from pao_devtools.ports import free_port
from pao_gateway.catalog_proxy import CatalogCache, CatalogProxy
from pao_gateway.errors import CatalogUnavailable
from pao_gateway.fastpath import FastPath

from tests.gateway.conftest import (
    Issuer,
    JsonServer,
    RunningGateway,
    gateway_settings,
    insert_view,
    item_document,
    publish_version,
    run_gateway,
)
from tests.gateway.test_live import sse
from tests.support.kafka import records_until_sentinels

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "port must be closed"
    return port


@pytest.fixture(scope="module")
async def no_redis_gateway(
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
        Path(tmp_path_factory.mktemp("no-redis")),
        gateway_sse_poll_s=0.2,
    )
    async for running in run_gateway(settings):
        yield running


async def test_submit_and_read_without_redis(
    no_redis_gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    gateway = no_redis_gateway
    item_id = f"item-{uuid.uuid4().hex[:8]}"
    await publish_version(db_pool, item_document(item_id))
    headers = issuer.headers(f"ann-{item_id}", teams=("payments",))
    body = {"item_id": item_id, "inputs": {"name": "orders"}}

    ready = await gateway.client.get("/readyz")
    assert ready.json()["checks"]["redis"] != "ok", "the gateway knows Redis is down"

    started = time.perf_counter()
    first = await gateway.client.post(
        "/api/v1/requests", json=body, headers={**headers, "Idempotency-Key": "k"}
    )
    first_s = time.perf_counter() - started
    assert first.status_code == 202, first.text
    request_id = first.json()["id"]

    durations = []
    for _ in range(5):
        started = time.perf_counter()
        again = await gateway.client.post(
            "/api/v1/requests", json=body, headers={**headers, "Idempotency-Key": "k"}
        )
        durations.append(time.perf_counter() - started)
        assert again.status_code == 202 and again.json()["id"] == request_id
    conflict = await gateway.client.post(
        "/api/v1/requests",
        json={**body, "inputs": {"name": "other"}},
        headers={**headers, "Idempotency-Key": "k"},
    )
    assert conflict.status_code == 409
    invalid = await gateway.client.post(
        "/api/v1/requests", json={"item_id": item_id, "inputs": {}}, headers=headers
    )
    assert invalid.status_code == 422

    view = await gateway.client.get(f"/api/v1/requests/{request_id}", headers=headers)
    assert view.status_code == 200 and view.json()["status"] == "submitted"
    listed = await gateway.client.get("/api/v1/requests", params={"item": item_id}, headers=headers)
    assert [i["id"] for i in listed.json()["items"]] == [request_id]

    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap, gateway.topics.request_commands, [request_id]
    )
    mine = [json.loads(r.value)["request_id"] for r in records if r.key == request_id.encode()]
    assert mine == [request_id]
    print(
        f"\nwithout Redis: first submit {first_s * 1000:.1f} ms, "
        f"replays {min(durations) * 1000:.1f}-{max(durations) * 1000:.1f} ms"
    )


async def test_stream_falls_back_to_the_read_model(
    no_redis_gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    """No event on the topic at all: the stream still follows the read model."""
    gateway = no_redis_gateway
    request_id = f"r-{uuid.uuid4().hex[:8]}"
    owner = f"ann-{request_id}"
    await insert_view(db_pool, request_id, requester=owner, status="in_progress", last_version=3)
    seen = []
    async with gateway.client.stream(
        "GET", f"/api/v1/requests/{request_id}/stream", headers=issuer.headers(owner)
    ) as response:
        async for name, data, _ in sse(response):
            seen.append((name, data["status"]))
            if name == "state" and data["status"] == "in_progress":
                await db_pool.execute(
                    "UPDATE request_view SET status = 'completed', last_version = 4,"
                    " completed_at = now() WHERE request_id = $1",
                    request_id,
                )
    assert seen == [("state", "in_progress"), ("state", "completed"), ("end", "completed")]


async def test_catalog_proxy_without_redis(
    no_redis_gateway: RunningGateway, issuer: Issuer, catalog_service: JsonServer
) -> None:
    item_id = f"item-{uuid.uuid4().hex[:8]}"
    path = f"/api/v1/catalog/items/{item_id}"
    catalog_service.routes[("GET", path)] = (200, {"id": item_id})
    for _ in range(2):
        r = await no_redis_gateway.client.get(path, headers=issuer.headers("browser"))
        assert r.status_code == 200 and r.json() == {"id": item_id}
        assert r.headers["x-pao-cache"] == "miss"
    assert catalog_service.count("GET", path) == 2, "no cache: every call goes upstream"


async def test_catalog_service_down_is_502() -> None:
    fastpath = FastPath(lambda: None, prefix="p:", timeout_s=0.1, cooldown_s=1)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{closed_port()}") as client:
        proxy = CatalogProxy(client, CatalogCache(fastpath, ttl_s=60))
        with pytest.raises(CatalogUnavailable, match="catalog service unreachable"):
            await proxy.get("/api/v1/catalog/items", [], scope="list")

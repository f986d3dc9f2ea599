"""The catalog service down (issue #15): the gateway checks submissions against item
versions read through the catalog's API (``pao_gateway.catalog_items``). Versions read
before go on being served (the list of an item's versions as last listed, the documents
for good); an item it has not read is a 502 saying to try again, with nothing recorded,
so the client's retry (same Idempotency-Key) makes the one request once the catalog is
back."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from pao_devtools.ports import free_port

from tests.gateway.conftest import (
    Issuer,
    gateway_settings,
    item_document,
    publish_version,
    run_gateway,
)
from tests.support.catalog import serve_history

pytestmark = pytest.mark.integration


async def _submit(
    client: httpx.AsyncClient, headers: dict[str, str], item_id: str, key: str
) -> tuple[int, dict[str, object]]:
    r = await client.post(
        "/api/v1/requests",
        json={"item_id": item_id, "inputs": {"name": "x"}},
        headers={**headers, "Idempotency-Key": key},
    )
    return r.status_code, r.json()


async def test_submissions_while_the_catalog_is_down(
    kafka_bootstrap: str,
    database_url: str,
    redis_url: str,
    issuer: Issuer,
    tmp_path: Path,
    db_pool: asyncpg.Pool,
) -> None:
    tag = uuid.uuid4().hex[:8]
    seen, unseen = f"seen-{tag}", f"unseen-{tag}"
    for item_id in (seen, unseen):
        await publish_version(db_pool, item_document(item_id))
    port = free_port()
    settings = gateway_settings(
        kafka_bootstrap, database_url, redis_url, issuer, f"http://127.0.0.1:{port}", tmp_path
    )
    user = f"ann-{tag}"
    headers = issuer.headers(user)

    async def submissions() -> int:
        count: int = await db_pool.fetchval(
            "SELECT count(*) FROM gateway_submissions WHERE requester_id = $1", user
        )
        return count

    async for gateway in run_gateway(settings):
        submit = functools.partial(_submit, gateway.client, headers)
        async with serve_history(database_url, port=port):
            assert (await submit(seen, "a"))[0] == 202
        # the catalog is down
        status, _ = await submit(seen, "b")
        assert status == 202, "an item read before is still checked and accepted"
        status, body = await submit(unseen, "c")
        assert status == 502
        assert "catalog service unreachable" in str(body["detail"])
        assert "try again" in str(body["detail"])
        assert await submissions() == 2, "the refused one is not recorded"
        # back: the client's retry with the same key makes the one request
        async with serve_history(database_url, port=port):
            status, body = await submit(unseen, "c")
            assert status == 202
            again = await submit(unseen, "c")
            assert again == (202, body), "the same request"
        assert await submissions() == 3

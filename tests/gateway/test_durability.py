"""An accepted submission is never lost: the relay publishes what never left, and the
gateway runs as its own process (``python -m pao_gateway``) with the development key."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from pao_common.messages import Requester
from pao_common.settings import Settings
from pao_gateway import devtokens

from tests.gateway.conftest import (
    RunningGateway,
    eventually,
    item_document,
    publish_version,
    records_until_sentinels,
)
from tests.support.services import ServiceProcess, service_env

pytestmark = pytest.mark.integration


async def test_relay_publishes_a_submission_that_never_left(
    gateway: RunningGateway, db_pool: asyncpg.Pool
) -> None:
    """As if the gateway died between recording the submission and publishing it."""
    request_id, message_id = str(uuid.uuid4()), str(uuid.uuid4())
    requester = Requester(id=f"ann-{request_id[:6]}", teams=("payments",))
    await db_pool.execute(
        "INSERT INTO gateway_submissions (request_id, message_id, requester_id, requester_teams,"
        " requester, idempotency_key, body_hash, item_id, item_version, inputs, submitted_at)"
        " VALUES ($1, $2, $3, $4, $5, 'k', 'h', 'debug-echo', '1.0.0', '{\"message\": \"hi\"}',"
        " now() - interval '1 minute')",
        request_id,
        message_id,
        requester.id,
        list(requester.teams),
        requester.model_dump_json(),
    )

    async def published() -> bool:
        return bool(
            await db_pool.fetchval(
                "SELECT published_at IS NOT NULL FROM gateway_submissions WHERE request_id = $1",
                request_id,
            )
        )

    await eventually(published)
    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap, gateway.topics.request_commands, [request_id]
    )
    mine = [r for r in records if r.key == request_id.encode()]
    assert len(mine) == 1
    headers = dict((k, v.decode()) for k, v in mine[0].headers)
    assert headers["ce_id"] == message_id, "same message id: the orchestrator deduplicates"
    body = json.loads(mine[0].value)
    assert (body["request_id"], body["inputs"], body["idempotency_key"]) == (
        request_id,
        {"message": "hi"},
        "k",
    )


@pytest.mark.slow
async def test_gateway_process_with_the_development_key(
    settings: Settings, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    key_dir = tmp_path / "dev-jwt"
    env = service_env(settings, PAO_JWT_DEV_KEY_DIR=str(key_dir))
    process = ServiceProcess("pao_gateway", env, tmp_path).start()
    try:
        item_id = f"item-{uuid.uuid4().hex[:8]}"
        await publish_version(db_pool, item_document(item_id))
        dev = settings.model_copy(update={"jwt_dev_key_dir": key_dir})
        token = devtokens.mint(dev, user="dev-user", teams=("platform",))
        async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:
            headers = {"Authorization": f"Bearer {token}"}
            r = await client.post(
                "/api/v1/requests",
                json={"item_id": item_id, "inputs": {"name": "x"}},
                headers=headers,
            )
            assert r.status_code == 202, r.text
            view = await client.get(r.json()["links"]["self"], headers=headers)
            assert view.json()["status"] == "submitted"
            assert (await client.get("/docs")).status_code == 200
            paths = (await client.get("/openapi.json")).json()["paths"]
            assert {
                "/api/v1/catalog/items",
                "/api/v1/catalog/items/{item_id}",
                "/api/v1/catalog/items/{item_id}/versions",
                "/api/v1/catalog/items/{item_id}/form",
                "/api/v1/catalog/items/{item_id}/validate",
                "/api/v1/requests",
                "/api/v1/requests/{request_id}",
                "/api/v1/requests/{request_id}/events",
                "/api/v1/requests/{request_id}/stream",
                "/api/v1/requests/{request_id}/cancel",
                "/api/v1/requests/{request_id}/approve",
                "/api/v1/requests/{request_id}/reject",
            } <= set(paths)
            other_key = tmp_path / "other"
            forged = devtokens.mint(
                settings.model_copy(update={"jwt_dev_key_dir": other_key}), user="x"
            )
            r = await client.get("/api/v1/requests", headers={"Authorization": f"Bearer {forged}"})
            assert r.status_code == 401
    finally:
        process.stop()

"""An accepted submission is never lost: the relay publishes what never left, and the
gateway runs as its own process (``python -m pao_gateway``) with the development key."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from pao_common.messages import Requester
from pao_common.service_tokens import ServiceSigner
from pao_common.settings import Settings
from pao_devtools.broker import BundledBroker
from pao_gateway import devtokens
from pao_gateway.bootstrap import KafkaCommandSender
from pao_gateway.submissions import SubmissionRelay

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
from tests.support.catalog import serve_history
from tests.support.kafka import records_until_sentinels
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
        " requester, idempotency_key, body_hash, item_id, item_version, inputs, submitted_at,"
        " topic) VALUES ($1, $2, $3, $4, $5, 'k', 'h', 'debug-echo', '1.0.0',"
        " '{\"message\": \"hi\"}', now() - interval '1 minute', $6)",
        request_id,
        message_id,
        requester.id,
        list(requester.teams),
        requester.model_dump_json(),
        gateway.topics.request_commands,
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
    # item versions come from the catalog's API (here over this test's version history)
    async with serve_history(settings.database_url) as catalog_url:
        env = service_env(settings, PAO_JWT_DEV_KEY_DIR=str(key_dir), PAO_CATALOG_URL=catalog_url)
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
                r = await client.get(
                    "/api/v1/requests", headers={"Authorization": f"Bearer {forged}"}
                )
                assert r.status_code == 401
        finally:
            process.stop()


@pytest.mark.slow
async def test_submission_accepted_while_the_broker_is_down_is_published_later(
    own_broker: BundledBroker,
    database_url: str,
    redis_url: str,
    issuer: Issuer,
    catalog_service: JsonServer,
    db_pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    settings = gateway_settings(
        own_broker.bootstrap,
        database_url,
        redis_url,
        issuer,
        catalog_service.url,
        tmp_path,
        gateway_relay_interval_s=0.5,
    )
    item_id = f"item-{uuid.uuid4().hex[:8]}"
    await publish_version(db_pool, item_document(item_id))
    headers = issuer.headers(f"ann-{item_id}")
    async for gateway in run_gateway(settings):

        async def epoch_marked() -> bool:  # the gateway can tell this broker from the next
            return any(
                group.startswith("pao-epoch-pao-gateway-")
                for group in await consumer_groups(own_broker.bootstrap)
            )

        await eventually(epoch_marked)
        await asyncio.to_thread(own_broker.stop)
        r = await gateway.client.post(
            "/api/v1/requests",
            json={"item_id": item_id, "inputs": {"name": "during-outage"}},
            headers={**headers, "Idempotency-Key": "outage"},
        )
        assert r.status_code == 202, r.text
        request_id = r.json()["id"]
        published_at = await db_pool.fetchval(
            "SELECT published_at FROM gateway_submissions WHERE request_id = $1", request_id
        )
        assert published_at is None, "recorded, not yet published"
        view = await gateway.client.get(f"/api/v1/requests/{request_id}", headers=headers)
        assert view.json()["status"] == "submitted"

        await asyncio.to_thread(own_broker.start)  # empty: the dev broker keeps nothing

        async def published(request_id: str = request_id) -> bool:
            return bool(
                await db_pool.fetchval(
                    "SELECT published_at IS NOT NULL FROM gateway_submissions"
                    " WHERE request_id = $1",
                    request_id,
                )
            )

        await eventually(published, timeout_s=60)
        # The first publish may go to a topic the restarted broker makes up before the
        # gateway notices the data loss; then, unprojected, the submission is published again.
        topic = gateway.topics.request_commands

        async def on_topic(topic: str = topic, request_id: str = request_id) -> bool:
            if not await topic_listed(own_broker.bootstrap, topic):
                return False
            records = await records_until_sentinels(own_broker.bootstrap, topic, [request_id])
            return any(r.key == request_id.encode() for r in records)

        await eventually(on_topic, timeout_s=60, interval_s=1.0)
        records = await records_until_sentinels(own_broker.bootstrap, topic, [request_id])
        body = json.loads(next(r.value for r in records if r.key == request_id.encode()))
        assert body["inputs"] == {"name": "during-outage", "size": 1}


async def topic_listed(bootstrap: str, topic: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return topic in await admin.list_topics()
    finally:
        await admin.close()


async def test_unprojected_submissions_are_published_again_after_a_broker_reset(
    gateway: RunningGateway, db_pool: asyncpg.Pool
) -> None:
    projected, lost, elsewhere = (str(uuid.uuid4()) for _ in range(3))
    topic = gateway.topics.request_commands
    for request_id, row_topic in ((projected, topic), (lost, topic), (elsewhere, "other")):
        await db_pool.execute(
            "INSERT INTO gateway_submissions (request_id, message_id, requester_id, requester,"
            " body_hash, item_id, item_version, inputs, submitted_at, published_at, topic)"
            " VALUES ($1, $2, 'ann', '{\"id\": \"ann\"}', 'h', 'debug-echo', '1.0.0', '{}',"
            " now() - interval '2 minutes', now() - interval '2 minutes', $3)",
            request_id,
            f"m-{request_id}",
            row_topic,
        )
    await insert_view(db_pool, projected, requester="ann")
    sender = KafkaCommandSender(
        gateway.app.state.runtime, ServiceSigner.from_settings(gateway.settings)
    )
    relay = SubmissionRelay(db_pool, sender, topic=topic)
    assert await relay.republish_unprojected() >= 1
    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap, topic, [projected, lost, elsewhere]
    )
    ids = [json.loads(r.value)["request_id"] for r in records]
    assert ids.count(lost) == 1 and projected not in ids and elsewhere not in ids
    headers = dict((k, v.decode()) for r in records if r.key == lost.encode() for k, v in r.headers)
    assert headers["ce_id"] == f"m-{lost}"


async def consumer_groups(bootstrap: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return [group[0] for group in await admin.list_consumer_groups()]
    finally:
        await admin.close()

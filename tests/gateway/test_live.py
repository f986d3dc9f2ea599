"""GET /requests/{id}/stream: the current state, then events from the request events topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from pao_common.messages import RequestEvent, to_cloudevent

from tests.gateway.conftest import Issuer, RunningGateway, insert_view
from tests.support.kafka import produce

pytestmark = pytest.mark.integration


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any], str | None]]:
    """(event, data, id) of each server-sent event."""
    name, data, event_id = "message", list[str](), None
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield name, json.loads("\n".join(data)), event_id
            name, data, event_id = "message", [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


async def publish_request_event(
    bootstrap: str, topic: str, request_id: str, version: int, status: str, event_type: str
) -> None:
    """Publish like the orchestrator's relay does, with bare aiokafka."""
    message = RequestEvent(
        request_id=request_id,
        event_type=event_type,
        version=version,
        status=status,
        occurred_at=datetime.now(UTC),
        data={"step": "echo"},
    )
    event = to_cloudevent(message, source="test-orchestrator", subject=request_id)
    await produce(bootstrap, topic, event.value(), key=event.key(), headers=event.headers())


async def test_stream_delivers_live_events_until_terminal(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    request_id = f"r-{uuid.uuid4().hex[:8]}"
    owner = f"ann-{request_id}"
    await insert_view(db_pool, request_id, requester=owner, status="in_progress", last_version=3)
    bootstrap, topic = gateway.settings.kafka_bootstrap, gateway.topics.request_events
    received: list[tuple[str, dict[str, Any], str | None]] = []
    got_event = asyncio.Event()

    async def follow() -> None:
        async with gateway.client.stream(
            "GET", f"/api/v1/requests/{request_id}/stream", headers=issuer.headers(owner)
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for item in sse(response):
                received.append(item)
                if item[0] == "event":
                    got_event.set()

    reader = asyncio.create_task(follow())
    # The replica's consumer starts at the topic's end once it is assigned; until the
    # first event comes through, publish it again (the stream drops repeated versions).
    for _ in range(100):
        await publish_request_event(bootstrap, topic, request_id, 4, "in_progress", "StepStarted")
        try:
            await asyncio.wait_for(got_event.wait(), 0.5)
            break
        except TimeoutError:
            continue
    await publish_request_event(bootstrap, topic, request_id, 2, "submitted", "Stale")
    await publish_request_event(bootstrap, topic, f"{request_id}-other", 5, "failed", "Other")
    await publish_request_event(bootstrap, topic, request_id, 5, "completed", "RequestCompleted")
    await asyncio.wait_for(reader, 30)

    kinds = [(name, data.get("status"), event_id) for name, data, event_id in received]
    assert kinds == [
        ("state", "in_progress", "3"),
        ("event", "in_progress", "4"),
        ("event", "completed", "5"),
        ("end", "completed", None),
    ]
    state = received[0][1]
    assert state["id"] == request_id and state["requester"]["id"] == owner
    event = received[2][1]
    assert (event["event_type"], event["version"], event["data"]) == (
        "RequestCompleted",
        5,
        {"step": "echo"},
    )
    assert gateway.app.state.gateway.live.listening(request_id) == 0, "listener released"


async def test_stream_of_a_finished_request_and_resume(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    request_id = f"r-{uuid.uuid4().hex[:8]}"
    owner = f"ann-{request_id}"
    await insert_view(db_pool, request_id, requester=owner, status="rejected", last_version=2)
    for version in (1, 2):
        await db_pool.execute(
            "INSERT INTO request_events (stream_id, version, event_type, data)"
            " VALUES ($1, $2, $3, '{}')",
            request_id,
            version,
            f"E{version}",
        )
    headers = issuer.headers(owner)
    async with gateway.client.stream(
        "GET", f"/api/v1/requests/{request_id}/stream", headers={**headers, "Last-Event-ID": "1"}
    ) as response:
        items = [(name, event_id) async for name, _, event_id in sse(response)]
    assert items == [("event", "2"), ("state", "2"), ("end", None)]

    hidden = await gateway.client.get(
        f"/api/v1/requests/{request_id}/stream", headers=issuer.headers("stranger")
    )
    assert hidden.status_code == 404
    anonymous = await gateway.client.get(f"/api/v1/requests/{request_id}/stream")
    assert anonymous.status_code == 401

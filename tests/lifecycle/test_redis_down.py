"""Must-show: with Redis down (its URL points at a closed port) requests are still
submitted through the gateway, driven to completion and read back: slower, not wrong.

End to end over real processes; the gateway's own tests (tests/gateway/test_redis_down.py)
cover its fallbacks in detail.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from pao_devtools.ports import free_port

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.platform import TERMINAL, sse_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


async def test_submit_and_read_through_the_gateway_without_redis(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(
        with_gateway=True,
        gateway_env={"PAO_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"},
    )
    await start_platform(platform)
    assert platform.gateway is not None
    headers = {"Authorization": f"Bearer {platform.token('alice')}"}
    async with httpx.AsyncClient(base_url=platform.gateway.url, timeout=30) as client:
        ready = await client.get("/readyz")
        assert ready.json()["checks"]["redis"] != "ok"

        accepted = []
        for n in range(20):
            r = await client.post(
                "/api/v1/requests",
                json={"item_id": "debug-echo", "inputs": {"message": f"hello {n}"}},
                headers={**headers, "Idempotency-Key": f"key-{n}"},
            )
            assert r.status_code == 202, r.text
            accepted.append(r.json()["id"])
        replay = await client.post(
            "/api/v1/requests",
            json={"item_id": "debug-echo", "inputs": {"message": "hello 0"}},
            headers={**headers, "Idempotency-Key": "key-0"},
        )
        assert replay.status_code == 202 and replay.json()["id"] == accepted[0]
        conflict = await client.post(
            "/api/v1/requests",
            json={"item_id": "debug-echo", "inputs": {"message": "other"}},
            headers={**headers, "Idempotency-Key": "key-0"},
        )
        assert conflict.status_code == 409

        # follow one live (SSE) to its end, read the others until they are done
        async with client.stream(
            "GET", f"/api/v1/requests/{accepted[-1]}/stream", headers=headers
        ) as stream:
            last = None
            async for name, data in sse_events(stream):
                last = (name, data)
                if name == "end":
                    break
        assert last is not None and last[0] == "end" and last[1]["status"] == "completed"

        views = {}
        for request_id in accepted:
            for _ in range(600):
                view = (await client.get(f"/api/v1/requests/{request_id}", headers=headers)).json()
                if view["status"] in TERMINAL:
                    break
                await asyncio.sleep(0.1)
            views[request_id] = view
        assert {v["status"] for v in views.values()} == {"completed"}, views
        assert views[accepted[3]]["outputs"] == {"message": "hello 3"}

        events = await client.get(f"/api/v1/requests/{accepted[3]}/events", headers=headers)
        types = [e["event_type"] for e in events.json()["events"]]
        assert types[0] == "RequestSubmitted" and types[-1] == "RequestCompleted"
        listed = await client.get(
            "/api/v1/requests", params={"item": "debug-echo", "limit": 200}, headers=headers
        )
        assert set(accepted) <= {i["id"] for i in listed.json()["items"]}

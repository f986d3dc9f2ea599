"""Must-show: two orchestrator processes at once, 200 requests.

Each request completes exactly once, and both processes did work: each process's
own ``/metrics`` counts the messages whose effects it committed.
"""

from __future__ import annotations

import asyncio
import re

import asyncpg
import httpx
import pytest

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.platform import assert_recorded_once, assert_side_effects_once, wait_until
from tests.support.services import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMMITTED = re.compile(
    r'^pao_orchestrator_messages_total\{outcome="committed",type="(\w+)"\} ([0-9.e+]+)$', re.M
)


async def committed_by(service: ServiceProcess) -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(service.url + "/metrics")).text
    return {kind: float(n) for kind, n in COMMITTED.findall(text)}


async def test_two_orchestrators_share_200_requests(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, test_id: str
) -> None:
    # One group member per process and three partitions: each holds one or two of each topic.
    platform = await start_platform(make_platform(), orchestrators=2)
    ids = [f"pair-{test_id}-{n:03d}" for n in range(200)]
    await platform.submit((rid, "lifecycle-steps", {"message": rid, "wait_s": 0.2}) for rid in ids)
    ended = await wait_until(db_pool, ids, platform=platform)
    assert set(ended.values()) == {"completed"}
    await assert_recorded_once(db_pool, ids)
    await assert_side_effects_once(db_pool, ids)
    completed = await db_pool.fetchval(
        "SELECT count(*) FROM request_events WHERE event_type = 'RequestCompleted'"
        " AND stream_id = ANY($1::text[])",
        ids,
    )
    assert completed == 200

    first, second = await asyncio.gather(*(committed_by(s) for s in platform.orchestrators))
    assert first.get("SubmitRequest", 0) > 0 and second.get("SubmitRequest", 0) > 0, (first, second)
    assert first.get("ActionSucceeded", 0) > 0 and second.get("ActionSucceeded", 0) > 0
    # Between them, every submission was committed once (redeliveries are duplicates).
    assert first.get("SubmitRequest", 0) + second.get("SubmitRequest", 0) == 200

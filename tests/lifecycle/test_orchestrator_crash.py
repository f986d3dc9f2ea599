"""Must-show: SIGKILL the orchestrator with 50 multi-step requests in flight, restart it.

All 50 end (completed, or rolled back when asked to fail), no message's effects are
recorded twice, and every executor side effect happened once per recorded attempt.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.platform import (
    TERMINAL,
    assert_recorded_once,
    assert_side_effects_once,
    statuses,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_sigkill_orchestrator_mid_flight(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, test_id: str
) -> None:
    platform = await start_platform(make_platform())
    ids = [f"kill-{test_id}-{n:02d}" for n in range(50)]
    fails = {rid for n, rid in enumerate(ids) if n % 5 == 0}
    await platform.submit(
        (rid, "lifecycle-steps", {"message": rid, "wait_s": 2, "fail": rid in fails}) for rid in ids
    )
    await wait_until(db_pool, ids, {"in_progress"}, platform=platform)

    [orchestrator] = platform.orchestrators
    orchestrator.kill()
    at_kill = await statuses(db_pool, ids)
    in_flight = [r for r in ids if at_kill.get(r) not in TERMINAL]
    assert len(in_flight) == len(ids), f"ended before the kill: {len(ids) - len(in_flight)}"
    await asyncio.sleep(1.0)  # results keep arriving on the topic while it is down
    await asyncio.to_thread(platform.restart, orchestrator)

    ended = await wait_until(db_pool, ids, platform=platform)
    assert {r: ended[r] for r in ids} == {
        r: "rolled_back" if r in fails else "completed" for r in ids
    }
    await assert_recorded_once(db_pool, ids)
    attempts = await assert_side_effects_once(db_pool, ids)
    # 40 x (prepare, wait, finish) + 10 x (prepare, wait, break, undo wait, undo prepare)
    assert attempts == 40 * 3 + 10 * 5

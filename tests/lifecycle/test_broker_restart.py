"""Must-show: the broker restarts with all its data gone mid-flight; requests still complete.

The bundled broker keeps everything in memory, so a restart loses every topic,
record and committed offset. The services must recreate their topics, rejoin their
groups, and the orchestrator must re-send the commands that were lost unanswered.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from pao_common.settings import Settings
from pao_devtools.broker import BundledBroker

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.platform import (
    TERMINAL,
    assert_recorded_once,
    assert_side_effects_once,
    statuses,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_broker_loses_everything_mid_flight(
    make_platform: MakePlatform,
    own_broker: BundledBroker,
    settings: Settings,
    db_pool: asyncpg.Pool,
    test_id: str,
) -> None:
    platform = await start_platform(
        make_platform(
            settings=settings.model_copy(update={"kafka_bootstrap": own_broker.bootstrap})
        )
    )
    before = [f"lost-{test_id}-{n:02d}" for n in range(30)]
    fails = {rid for n, rid in enumerate(before) if n % 6 == 0}
    await platform.submit(
        (rid, "lifecycle-steps", {"message": rid, "wait_s": 10, "fail": rid in fails})
        for rid in before
    )
    await wait_until(db_pool, before, {"in_progress"}, platform=platform)

    await asyncio.to_thread(own_broker.restart)
    at_restart = await statuses(db_pool, before)
    in_flight = [r for r in before if at_restart[r] not in TERMINAL]
    assert in_flight, "every request ended before the broker restarted: nothing was tested"

    ended = await wait_until(db_pool, before, deadline_s=240, platform=platform)
    assert ended == {r: "rolled_back" if r in fails else "completed" for r in before}

    # Commands the broker loses before any executor took them: only re-sending saves them
    # (without it the step times out and the request is rolled back).
    assert platform.executor is not None
    await asyncio.to_thread(platform.executor.stop)
    queued = [f"queued-{test_id}-{n:02d}" for n in range(10)]
    await platform.submit((rid, "lifecycle-steps", {"message": rid, "wait_s": 0}) for rid in queued)
    await wait_until(db_pool, queued, {"in_progress"}, platform=platform)
    for _ in range(600):  # until the commands are out, on the broker, and nobody reads them
        if not await db_pool.fetchval("SELECT count(*) FROM outbox WHERE key = ANY($1)", queued):
            break
        await asyncio.sleep(0.1)
    await asyncio.to_thread(own_broker.restart)
    await asyncio.to_thread(platform.executor.start)
    ended = await wait_until(db_pool, queued, deadline_s=240, platform=platform)
    assert set(ended.values()) == {"completed"}, ended

    # and the platform keeps working afterwards
    after = [f"later-{test_id}-{n:02d}" for n in range(10)]
    await platform.submit((rid, "debug-echo", {"message": rid}) for rid in after)
    assert set((await wait_until(db_pool, after, platform=platform)).values()) == {"completed"}

    await assert_recorded_once(db_pool, before + queued + after)
    await assert_side_effects_once(db_pool, before + queued + after)

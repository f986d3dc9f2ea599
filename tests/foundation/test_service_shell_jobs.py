"""``ServiceRuntime.run_every``: periodic background jobs of a service."""

from __future__ import annotations

import asyncio

from pao_common.service import ServiceRuntime, ServiceSpec
from pao_common.settings import Settings


async def test_run_every_repeats_and_survives_a_failing_run(settings: Settings) -> None:
    runtime = ServiceRuntime(
        spec=ServiceSpec(name="jobs"),
        settings=settings,
        broker=None,  # type: ignore[arg-type]  # not used by run_every
        topics=None,  # type: ignore[arg-type]
        dlq=None,  # type: ignore[arg-type]
    )
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    runtime.run_every(0.01, job, name="test-job")
    try:
        for _ in range(200):
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        for task in runtime.background:
            task.cancel()
        await asyncio.gather(*runtime.background, return_exceptions=True)
    assert len(runs) >= 3, "the job runs again after a failure"

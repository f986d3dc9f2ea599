"""Must-show: the projections rebuilt from the log equal the live ones after 500 requests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import asyncpg
import pytest

from tests.lifecycle.conftest import start_platform
from tests.support.platform import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def snapshot(pool: asyncpg.Pool) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM request_view ORDER BY request_id")
    return {r["request_id"]: dict(r) for r in rows}


async def test_rebuilt_projection_equals_live_after_500_requests(
    make_platform, db_pool: asyncpg.Pool, test_id: str
) -> None:
    platform = await start_platform(make_platform())
    ids = [f"view-{test_id}-{n:03d}" for n in range(500)]
    wanted: dict[str, str] = {}
    requests = []
    for n, rid in enumerate(ids):
        if n % 10 == 0:  # rolled back after two steps
            requests.append((rid, "lifecycle-steps", {"message": rid, "wait_s": 0, "fail": True}))
            wanted[rid] = "rolled_back"
        elif n % 25 == 1:  # invalid inputs: failed at submission
            requests.append((rid, "debug-echo", {"message": ""}))
            wanted[rid] = "failed"
        elif n % 3 == 0:
            requests.append((rid, "lifecycle-steps", {"message": rid, "wait_s": 0}))
            wanted[rid] = "completed"
        else:
            requests.append((rid, "debug-echo", {"message": rid}))
            wanted[rid] = "completed"
    await platform.submit(requests)
    ended = await wait_until(db_pool, ids, deadline_s=300, platform=platform)
    assert ended == wanted
    await asyncio.to_thread(platform.stop)  # nothing may change the views from here on

    live = await snapshot(db_pool)
    env = {**os.environ, "PAO_DATABASE_URL": platform.settings.database_url}
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pao_cli.main", "orchestrator", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rebuilt = await snapshot(db_pool)
    assert f"{len(rebuilt)} request(s)" in out.stdout
    assert set(ids) <= set(rebuilt)
    assert len(rebuilt) == len(live)
    differ = [rid for rid in live if live[rid] != rebuilt.get(rid)]
    assert not differ, (differ[:5], live[differ[0]], rebuilt.get(differ[0]))

"""Must-show: the projections rebuilt from the log equal the live ones, after 500 requests,
and after 300 mixed provisions and day-2 operations (the resource read model too)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from pao_common.messages import resource_id_for

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.platform import Platform, statuses, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RESOURCE_ITEM = "lifecycle-resource"  # tests/lifecycle/catalog: update and decommission


async def snapshot(
    pool: asyncpg.Pool, table: str = "request_view", key: str = "request_id"
) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch(f"SELECT * FROM {table} ORDER BY {key}")
    return {r[key]: dict(r) for r in rows}


async def rebuild_from_the_log(platform: Platform) -> str:
    """``pao orchestrator rebuild`` as its own process; what it printed."""
    env = {**os.environ, "PAO_DATABASE_URL": platform.settings.database_url}
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pao_cli.main", "orchestrator", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def differing(live: dict[str, dict[str, Any]], rebuilt: dict[str, dict[str, Any]]) -> list[str]:
    """The keys whose rebuilt row is not the live one (the same keys, or it fails)."""
    assert set(rebuilt) == set(live), (sorted(set(live) ^ set(rebuilt))[:5], len(live))
    return [k for k in live if live[k] != rebuilt[k]]


async def test_rebuilt_projection_equals_live_after_500_requests(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, test_id: str
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
    out = await rebuild_from_the_log(platform)
    rebuilt = await snapshot(db_pool)
    assert f"{len(rebuilt)} request(s)" in out
    assert set(ids) <= set(rebuilt)
    differ = differing(live, rebuilt)
    assert not differ, (differ[:5], live[differ[0]], rebuilt.get(differ[0]))


async def test_rebuilt_resource_view_equals_live_after_300_provisions_and_operations(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, test_id: str
) -> None:
    """300 submissions over Kafka in four rounds (each waits for the one before):

    1. 100 provisions: 86 complete, 10 are rolled back (their resources ``failed``), 4
       have invalid inputs (failed at submission, no resource);
    2. 116 updates: one on each active resource (every fourth rolled back), a second one
       at the same moment on 20 of them (one of each pair runs; the other is refused as
       busy unless the first had ended), one on each failed resource (refused);
    3. 70: decommissions of 60 resources (10 fail in their step: the resource stays
       active), 4 updates with invalid inputs, 6 decommissions of resources that never
       existed (refused);
    4. 14 updates: 10 on decommissioned resources (refused), 4 on resources whose
       decommission failed (they run).

    Then ``pao orchestrator rebuild`` recomputes both read models from the log, and
    ``resource_view`` (the resource's state, inputs, outputs and its history of requests)
    and ``request_view`` are equal to the live ones, row for row.
    """
    platform = await start_platform(make_platform())
    wanted: dict[str, str] = {}  # request id -> the status it ends in
    refused: dict[str, str] = {}  # request id -> what its rejection says

    provisions = []
    for n in range(100):
        rid = f"mix-{test_id}-p{n:03d}"
        inputs: dict[str, Any] = {"name": f"mix-{test_id}-{n:03d}", "size": 1 + n % 7}
        if n % 10 == 0:
            inputs["fail"], wanted[rid] = True, "rolled_back"
        elif n % 25 == 1:
            inputs["size"], wanted[rid] = 0, "failed"
        else:
            wanted[rid] = "completed"
        provisions.append((rid, RESOURCE_ITEM, inputs))
    await platform.submit(provisions)
    await settle(db_pool, wanted, refused, platform)
    active = [resource_id_for(rid) for rid, _, _ in provisions if wanted[rid] == "completed"]
    failed = [resource_id_for(rid) for rid, _, _ in provisions if wanted[rid] == "rolled_back"]
    assert (len(active), len(failed)) == (86, 10)

    operations: list[tuple[str, str, str, str, dict[str, Any]]] = []

    def operation(tag: str, resource: str, op: str, inputs: dict[str, Any]) -> str:
        rid = f"mix-{test_id}-{tag}"
        operations.append((rid, RESOURCE_ITEM, resource, op, inputs))
        return rid

    for n, res in enumerate(active):
        fails = n % 4 == 2
        rid = operation(f"u{n:03d}", res, "update", {"size": 20 + n, "fail_update": fails})
        wanted[rid] = "rolled_back" if fails else "completed"
    racing = [
        (f"mix-{test_id}-u{n:03d}", operation(f"r{n:03d}", res, "update", {"size": 500 + n}))
        for n, res in enumerate(active[:20])
    ]
    for n, res in enumerate(failed):
        refused[operation(f"f{n:03d}", res, "update", {"size": 2})] = "is failed, not active"
    for first, _ in racing:
        del wanted[first]  # which of the two runs is the race's to decide
    await platform.submit_operations(operations)
    await settle(db_pool, wanted, refused, platform, also=[r for pair in racing for r in pair])
    raced = await ran_of_each_pair(db_pool, racing)

    operations.clear()
    drop_failed = [res for n, res in enumerate(active[:60]) if n % 6 == 0]
    decommissioned = [res for n, res in enumerate(active[:60]) if n % 6 != 0]
    for n, res in enumerate(active[:60]):
        fails = n % 6 == 0
        rid = operation(f"d{n:03d}", res, "decommission", {"fail_decommission": fails})
        wanted[rid] = "failed" if fails else "completed"
    for n, res in enumerate(active[60:64]):
        wanted[operation(f"i{n}", res, "update", {"size": 0})] = "failed"
    for n in range(6):
        missing = resource_id_for(f"mix-{test_id}-never-{n}")
        refused[operation(f"x{n}", missing, "decommission", {})] = "unknown resource"
    await platform.submit_operations(operations)
    await settle(db_pool, wanted, refused, platform)

    operations.clear()
    for n, res in enumerate(decommissioned[:10]):
        refused[operation(f"g{n}", res, "update", {"size": 3})] = "is decommissioned"
    for n, res in enumerate(drop_failed[:4]):
        wanted[operation(f"a{n}", res, "update", {"size": 900 + n})] = "completed"
    await platform.submit_operations(operations)
    await settle(db_pool, wanted, refused, platform)
    submitted = len(wanted) + len(refused) + 2 * len(racing)
    assert submitted == 300, submitted

    kinds = await db_pool.fetch(
        "SELECT status, count(*) AS n FROM resource_view GROUP BY status ORDER BY status"
    )
    assert {r["status"]: r["n"] for r in kinds} == {
        "active": 86 - len(decommissioned),
        "decommissioned": len(decommissioned),
        "failed": len(failed),
    }
    await asyncio.to_thread(platform.stop)  # nothing may change the views from here on

    live_resources = await snapshot(db_pool, "resource_view", "resource_id")
    live_requests = await snapshot(db_pool)
    out = await rebuild_from_the_log(platform)
    rebuilt_resources = await snapshot(db_pool, "resource_view", "resource_id")
    rebuilt_requests = await snapshot(db_pool)
    assert f"rebuilt resource_view: {len(live_resources)} resource(s)" in out, out
    assert f"rebuilt request_view: {len(live_requests)} request(s)" in out, out
    differ = differing(live_resources, rebuilt_resources)
    assert not differ, (differ[:5], live_resources[differ[0]], rebuilt_resources[differ[0]])
    differ = differing(live_requests, rebuilt_requests)
    assert not differ, (differ[:5], live_requests[differ[0]], rebuilt_requests[differ[0]])
    # Every request that acted on a resource is in its history: the provisions that
    # fulfilled (86 + 10), the updates and decommissions that ran; not the refused ones.
    histories = sum(len(r["requests"]) for r in map(json_row, rebuilt_resources.values()))
    assert histories == 96 + (86 - 20) + raced + 60 + 4, histories


async def settle(
    pool: asyncpg.Pool,
    wanted: dict[str, str],
    refused: dict[str, str],
    platform: Platform,
    *,
    also: Sequence[str] = (),
) -> None:
    """Wait for every request submitted so far to end; each ends as ``wanted``, or
    rejected by the orchestrator saying what ``refused`` says."""
    ids = [*wanted, *refused, *also]
    ended = await wait_until(pool, ids, deadline_s=300, platform=platform)
    assert {r: ended[r] for r in wanted} == wanted
    assert {r: ended[r] for r in refused} == dict.fromkeys(refused, "rejected")
    errors = dict(
        await pool.fetch(
            "SELECT request_id, error FROM request_view WHERE request_id = ANY($1::text[])",
            list(refused),
        )
    )
    wrong = {r: errors[r] for r, why in refused.items() if why not in (errors[r] or "")}
    assert not wrong, wrong


async def ran_of_each_pair(pool: asyncpg.Pool, pairs: list[tuple[str, str]]) -> int:
    """Of two updates submitted at once on one resource, one ran; the other ran after it
    or was refused as busy with the first. How many ran."""
    found = await statuses(pool, [r for pair in pairs for r in pair])
    errors = dict(
        await pool.fetch(
            "SELECT request_id, error FROM request_view WHERE request_id = ANY($1::text[])",
            [r for pair in pairs for r in pair],
        )
    )
    ran = 0
    for pair in pairs:
        assert any(found[r] in ("completed", "rolled_back") for r in pair), (pair, found)
        for mine, other in (pair, pair[::-1]):
            if found[mine] == "rejected":
                assert f"is busy with request {other}" in (errors[mine] or ""), errors[mine]
        ran += sum(1 for r in pair if found[r] != "rejected")
    return ran


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A read model row with its JSON columns decoded."""
    return {
        k: json.loads(v) if k in ("inputs", "outputs", "requests") and isinstance(v, str) else v
        for k, v in row.items()
    }

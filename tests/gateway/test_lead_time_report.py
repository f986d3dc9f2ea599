"""Must-show (issue #13): the lead-time report on a seeded history gives the expected
numbers: an item with a baseline (the latest version's), one without, one with only
manual requests; approval wait from the event log; a request outside the period ignored.
Also who may read it, and ``pao report lead-time`` over the same answer.

The history is written as the orchestrator writes it (``request_view`` rows and
``request_events``) at fixed instants, into the session database under item ids of this
test's own; the report is asked for those items only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner
from pao_cli.main import main as pao

from tests.gateway.conftest import Issuer, RunningGateway, item_document, publish_version

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
H, D = 3600, 86400


async def _request(
    pool: asyncpg.Pool,
    item_id: str,
    *,
    submitted: datetime,
    status: str,
    ended_after_s: float | None = None,
    mode: str = "automated",
    approval: tuple[float, float] | None = None,  # asked, decided (seconds after submit)
    escalated_until: float | None = None,  # a change window's extra stage decided then
    fell_back: bool = False,
) -> str:
    request_id = str(uuid.uuid4())
    completed = submitted + timedelta(seconds=ended_after_s) if ended_after_s else None
    events: list[tuple[str, datetime, dict[str, Any]]] = [
        ("RequestSubmitted", submitted, {"request_id": request_id, "mode": mode})
    ]
    if approval:
        events.append(("ApprovalRequested", submitted + timedelta(seconds=approval[0]), {}))
        events.append(("RequestApproved", submitted + timedelta(seconds=approval[1]), {}))
    if approval and escalated_until is not None:  # in the same commit as the approval
        for event_type in ("ChangeEscalated", "ApprovalRequested"):
            events.append((event_type, submitted + timedelta(seconds=approval[1]), {}))
        events.append(("RequestApproved", submitted + timedelta(seconds=escalated_until), {}))
    if fell_back:
        events.append(("FallbackToManual", submitted + timedelta(seconds=60), {}))
    for version, (event_type, at, data) in enumerate(events, 1):
        await pool.execute(
            "INSERT INTO request_events (stream_id, version, event_type, data)"
            " VALUES ($1, $2, $3, $4)",
            request_id,
            version,
            event_type,
            json.dumps({**data, "occurred_at": at.isoformat()}),
        )
    ticket = json.dumps({"key": "OPS-1"}) if mode == "manual" or fell_back else None
    await pool.execute(
        "INSERT INTO request_view (request_id, item_id, item_version, status, requester_id,"
        " requester_teams, ticket, last_version, submitted_at, updated_at, completed_at)"
        " VALUES ($1, $2, '1.0.0', $3, 'alice', '{platform}', $4, $5, $6, $6, $7)",
        request_id,
        item_id,
        status,
        ticket,
        len(events),
        submitted,
        completed,
    )
    return request_id


async def _seed(pool: asyncpg.Pool) -> dict[str, str]:
    tag = uuid.uuid4().hex[:6]
    ids = {"db": f"db-{tag}", "dns": f"dns-{tag}", "access": f"access-{tag}"}
    older = item_document(ids["db"], "1.0.0")
    older["metadata"].update(owner="payments", baseline_lead_time="10d")
    newer = item_document(ids["db"], "1.10.0")  # semver order, not text order
    newer["metadata"].update(owner="payments", baseline_lead_time="14d")
    dns = item_document(ids["dns"])
    access = item_document(ids["access"])
    access["metadata"].update(owner="security", baseline_lead_time="5d")
    for doc in (newer, older, dns, access):
        await publish_version(pool, doc)
    db = ids["db"]
    await _request(pool, db, submitted=T0, status="completed", ended_after_s=H, approval=(0, 1800))
    await _request(
        pool, db, submitted=T0 + timedelta(days=1), status="completed", ended_after_s=3 * H
    )
    await _request(pool, db, submitted=T0 + timedelta(days=2), status="failed", ended_after_s=600)
    await _request(
        pool,
        db,
        submitted=T0 + timedelta(days=8),
        status="completed",
        ended_after_s=2 * D,
        fell_back=True,
    )
    # Before the period: not counted.
    await _request(pool, db, submitted=T0 - timedelta(days=1), status="completed", ended_after_s=1)
    await _request(
        pool, ids["dns"], submitted=T0 + timedelta(days=3), status="completed", ended_after_s=60
    )
    access_id = ids["access"]
    await _request(
        pool,
        access_id,
        submitted=T0 + timedelta(days=1),
        status="completed",
        ended_after_s=D,
        mode="manual",
    )
    await _request(
        pool, access_id, submitted=T0 + timedelta(days=9), status="in_progress", mode="manual"
    )
    return ids


def _query(ids: dict[str, str]) -> list[tuple[str, str | int | float | bool | None]]:
    return [
        ("since", "2026-01-05"),
        ("until", (T0 + timedelta(days=14)).isoformat()),
        *(("item", i) for i in ids.values()),
    ]


async def test_lead_time_report_on_a_seeded_history(
    gateway: RunningGateway, db_pool: asyncpg.Pool, issuer: Issuer
) -> None:
    ids = await _seed(db_pool)
    admin = issuer.headers("ana", roles=("platform-admin",))
    r = await gateway.client.get("/api/v1/reports/lead-time", params=_query(ids), headers=admin)
    assert r.status_code == 200, r.text
    report = {item["item_id"]: item for item in r.json()["items"]}
    assert sorted(report) == sorted(ids.values())

    db = report[ids["db"]]
    assert db["baseline_lead_time"] == "14d" and db["baseline_lead_time_s"] == 14 * D
    assert db["requests"] == 4 and db["outcomes"]["completed"] == 3
    assert db["outcomes"]["failed"] == 1 and db["open"] == 0
    assert db["completed_share"] == 0.75
    assert db["lead_time_p50_s"] == 3 * H  # of 1 h, 3 h, 2 d
    assert db["lead_time_p90_s"] == 3 * H + 0.8 * (2 * D - 3 * H)
    assert db["reduction_vs_baseline"] == round(1 - 3 * H / (14 * D), 4)
    assert db["mode_share"] == {"automated": 0.75, "manual": 0.0, "fallback": 0.25}
    modes = {m["mode"]: m for m in db["modes"]}
    automated = modes["automated"]
    assert automated["requests"] == 3 and automated["lead_time_p50_s"] == 2 * H
    assert automated["approval_wait_p50_s"] == 1800
    assert automated["fulfilment_p50_s"] == (1800 + 3 * H) / 2  # 30 min and 3 h
    assert automated["approval_share"] == round(1800 / (4 * H), 4)
    assert modes["fallback"]["lead_time_p50_s"] == 2 * D
    assert modes["fallback"]["reduction_vs_baseline"] == round(1 - 2 / 14, 4)
    assert [
        (s["requests"], s["completed"], s["manual"], s["lead_p50_s"]) for s in db["series"]
    ] == [
        (3, 2, 0, 2 * H),
        (1, 1, 1, 2 * D),
    ]
    assert db["series"][0]["period"].startswith("2026-01-05")

    dns = report[ids["dns"]]  # no baseline: figures, no reduction
    assert dns["baseline_lead_time"] is None and dns["reduction_vs_baseline"] is None
    assert dns["lead_time_p50_s"] == 60 and dns["approval_wait_p50_s"] is None

    access = report[ids["access"]]  # manual requests only
    assert access["mode_share"] == {"automated": 0.0, "manual": 1.0, "fallback": 0.0}
    assert [m["mode"] for m in access["modes"]] == ["manual"]
    assert access["requests"] == 2 and access["open"] == 1 and access["completed_share"] == 0.5
    assert access["lead_time_p50_s"] == D
    assert access["reduction_vs_baseline"] == 0.8  # 1 d against 5 d

    # The CLI over the same answer.
    url_args = [
        "report",
        "--gateway",
        gateway.url,
        "--token",
        issuer.token("ana", roles=("platform-admin",)),
    ]
    period = ["--since", "2026-01-05", "--until", (T0 + timedelta(days=14)).isoformat()]
    items = [arg for i in ids.values() for arg in ("--item", i)]
    runner = CliRunner()
    out = await asyncio.to_thread(
        runner.invoke, pao, [*url_args, "lead-time", *period, *items, "--format", "csv"]
    )
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    by_key = {(row["item_id"], row["mode"]): row for row in rows}
    assert len(rows) == 3 + 2 + 2  # each item's "all" row and one per mode it has
    assert float(by_key[(ids["db"], "all")]["lead_time_p50_s"]) == 3 * H
    assert by_key[(ids["dns"], "all")]["reduction_vs_baseline"] == ""
    table = await asyncio.to_thread(runner.invoke, pao, [*url_args, "lead-time", *period, *items])
    assert table.exit_code == 0, table.output
    line = next(x for x in table.output.splitlines() if x.startswith(ids["access"]))
    assert line.split()[1:4] == ["all", "2", "50.0%"] and line.split()[-1] == "80.0%"


async def test_a_change_window_escalation_is_approval_wait_not_fulfilment(
    gateway: RunningGateway, db_pool: asyncpg.Pool, issuer: Issuer
) -> None:
    """Approved after 30 min, escalated by a change window to the advisory board, which
    approves 2 h later; done 3 h after submission: 2.5 h approval wait, 30 min fulfilment."""
    item_id = f"cab-{uuid.uuid4().hex[:6]}"
    await publish_version(db_pool, item_document(item_id))
    await _request(
        db_pool,
        item_id,
        submitted=T0,
        status="completed",
        ended_after_s=3 * H,
        approval=(0, 1800),
        escalated_until=1800 + 2 * H,
    )
    admin = issuer.headers("ana", roles=("platform-admin",))
    r = await gateway.client.get(
        "/api/v1/reports/lead-time", params=_query({"cab": item_id}), headers=admin
    )
    assert r.status_code == 200, r.text
    (automated,) = r.json()["items"][0]["modes"]
    assert automated["approval_wait_p50_s"] == 1800 + 2 * H
    assert automated["fulfilment_p50_s"] == 1800
    assert automated["approval_share"] == round((1800 + 2 * H) / (3 * H), 4)


async def test_only_admins_and_owner_teams_read_the_report(
    gateway: RunningGateway, db_pool: asyncpg.Pool, issuer: Issuer
) -> None:
    ids = await _seed(db_pool)
    owner = issuer.headers("pat", teams=("payments",))
    r = await gateway.client.get(
        "/api/v1/reports/lead-time", params=[("since", "2026-01-05")], headers=owner
    )
    assert r.status_code == 200, r.text
    seen = {item["item_id"] for item in r.json()["items"]}
    assert ids["db"] in seen and not seen & {ids["dns"], ids["access"]}
    r = await gateway.client.get(
        "/api/v1/reports/lead-time", params=[("item", ids["access"])], headers=owner
    )
    assert r.status_code == 403 and ids["access"] in r.json()["detail"]
    nobody = issuer.headers("nina", teams=("no-items-here",))
    r = await gateway.client.get("/api/v1/reports/lead-time", headers=nobody)
    assert r.status_code == 403
    r = await gateway.client.get(
        "/api/v1/reports/lead-time",
        params=[("since", "2026-02-01"), ("until", "2026-01-01")],
        headers=owner,
    )
    assert r.status_code == 422 and "since" in r.text

"""Must-show (issue #12, part 4): ServiceNow change requests over real Kafka, PostgreSQL and
the sandbox ServiceNow's Table API, with the orchestrator, the servicenow executor and the
gateway as processes.

- a normal change opens a change request (CHG...) and waits in
  ``awaiting_change_approval``; approved in the sandbox (its webhook calls the gateway),
  the request runs, completes, and the change request is closed ``successful``;
- a request that fails (approved by polling alone: no webhook) closes it
  ``unsuccessful`` with the failure in ``close_notes``;
- ServiceNow answering 500: the request waits with the reason (``last_error``,
  ``retry_at``), the opening is retried, and once ServiceNow answers it proceeds: one
  change request, nothing lost.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.lifecycle.conftest import start_platform
from tests.support.platform import Platform, wait_until
from tests.support.sandbox import SERVICENOW_PASSWORD, SERVICENOW_USER, SandboxServer
from tests.support.services import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "change-webhook-secret"
ITEM = """\
schemaVersion: "2.0"
metadata:
  id: change-steps
  name: A normal change with a change request
  version: 1.0.0
  owner: platform
  category: debug
presentation:
  fields:
    - {id: message, type: string, label: Message, required: true}
    - {id: fail, type: boolean, label: Fail the second step, default: false}
change_class: normal
fulfillment:
  mode: automated
  automated:
    steps:
      - {id: prepare, action: debug.log, with: {message: "prepare {{ inputs.message }}"}}
      - id: break
        action: debug.fail
        when: "inputs.fail"
        with: {error: "broken on purpose"}
      - {id: finish, action: debug.log, with: {message: "done {{ inputs.message }}"}}
examples:
  - {name: ok, user: {id: alice}, inputs: {message: hi}}
"""
CALENDAR = """\
schemaVersion: "1.0"
kind: ChangeCalendar
version: test
timezone: UTC
change_requests:
  classes: [normal, major]
  planned_duration: 1h
  assignment_group: Platform Change
"""


async def eventually(check: Callable[[], Any], what: str, deadline_s: float = 90.0) -> Any:
    """``check()`` (a coroutine function, or a blocking one run off the loop) until truthy."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if inspect.iscoroutinefunction(check):
            found = await check()
        else:
            found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"never: {what}")


def changes(sandbox: SandboxServer) -> list[dict[str, str]]:
    return list(sandbox.state("servicenow")["records"].get("change_request", []))


def change_of(sandbox: SandboxServer, request_id: str) -> dict[str, str] | None:
    found = [c for c in changes(sandbox) if c["correlation_id"] == request_id]
    assert len(found) <= 1, found
    return found[0] if found else None


async def view_change(pool: asyncpg.Pool, request_id: str) -> dict[str, Any]:
    raw = await pool.fetchval(
        "SELECT change::text FROM request_view WHERE request_id = $1", request_id
    )
    return json.loads(raw or "{}").get("change_request") or {}


def decide(sandbox: SandboxServer, sys_id: str, approval: str) -> dict[str, Any]:
    verb = "approve" if approval == "approved" else "reject"
    response = httpx.post(
        f"{sandbox.servicenow_url}/sandbox/change_request/{sys_id}/{verb}",
        json={"user": "carla.cab", "comment": f"{verb}d in the test"},
    )
    response.raise_for_status()
    return dict(response.json())


async def test_change_requests_are_opened_approved_closed_and_survive_servicenow_down(
    make_platform: Callable[..., Platform],
    sandbox: SandboxServer,
    db_pool: asyncpg.Pool,
    test_id: str,
    tmp_path: Path,
) -> None:
    calendar = tmp_path / "change-calendar.yaml"
    calendar.write_text(CALENDAR)
    platform = make_platform(
        with_gateway=True,
        orchestrator_env={"PAO_CHANGE_CALENDAR": str(calendar)},
        gateway_env={
            "PAO_CHANGE_CALENDAR": str(calendar),
            "PAO_SERVICENOW_WEBHOOK_SECRET": SECRET,
        },
    )
    (platform.log_dir / "catalog" / "change-steps.yaml").write_text(ITEM)
    await start_platform(platform)
    executor = ServiceProcess(
        "pao_executors.servicenow",
        platform.env(
            PAO_SERVICENOW_URL=sandbox.servicenow_url,
            PAO_SERVICENOW_USER=SERVICENOW_USER,
            PAO_SECRET_SERVICENOW_PASSWORD=SERVICENOW_PASSWORD,
            PAO_SERVICENOW_POLL_INTERVAL_S="0.5",
        ),
        tmp_path,
    )
    try:
        await asyncio.to_thread(executor.start, 90)
        assert platform.gateway is not None
        webhook = f"{platform.gateway.url}/api/v1/webhooks/servicenow"
        sandbox.configure("servicenow", webhook_url=webhook, webhook_secret=SECRET)

        # 1. opened, approved in the sandbox (webhook), completed, closed successful
        ok = f"cr-ok-{test_id}"
        await platform.submit([(ok, "change-steps", {"message": "hello"})])
        await wait_until(db_pool, [ok], {"awaiting_change_approval"}, platform=platform)
        record = await eventually(lambda: change_of(sandbox, ok), "a change request for ok")
        assert record["number"].startswith("CHG")
        assert record["approval"] == "requested" and record["state"] == "-4"
        assert record["correlation_display"] == "PAO"
        assert record["risk"] == "3" and record["type"] == "normal"
        assert record["assignment_group"] == "Platform Change"
        assert record["start_date"] and record["end_date"] > record["start_date"]
        assert "change-steps 1.0.0" in record["description"]
        assert "message: hello" in record["description"]

        async def number() -> str | None:
            return (await view_change(db_pool, ok)).get("number")

        view = await eventually(number, "the view's number")
        assert view == record["number"]
        await asyncio.sleep(1.0)  # nothing runs before the approval
        assert (await db_pool.fetchval(
            "SELECT count(*) FROM request_events WHERE stream_id = $1"
            " AND event_type = 'StepDispatched'", ok
        )) == 0  # fmt: skip

        answer = await asyncio.to_thread(decide, sandbox, record["sys_id"], "approved")
        assert answer["webhook"]["delivered"], answer["webhook"]
        assert (await wait_until(db_pool, [ok], platform=platform))[ok] == "completed"
        closed = await eventually(
            lambda: (c := change_of(sandbox, ok)) and c["state"] == "3" and c, "ok closed"
        )
        assert closed["close_code"] == "successful" and closed["active"] == "false"
        assert ok in closed["close_notes"]

        token = platform.token()
        async with httpx.AsyncClient(base_url=platform.gateway.url) as client:
            answer_ = await client.get(
                f"/api/v1/requests/{ok}", headers={"Authorization": f"Bearer {token}"}
            )
        shown = answer_.json()
        change_request = shown["change"]["change_request"]
        assert change_request["number"] == record["number"]
        assert change_request["approval"] == "approved"
        assert change_request["decided_by"] == "carla.cab"
        assert change_request["url"].endswith(f"/change_request.do?sys_id={record['sys_id']}")
        assert change_request["phase"] == "closed" and change_request["close_code"] == "successful"
        types = [
            r["event_type"]
            for r in await db_pool.fetch(
                "SELECT event_type FROM request_events WHERE stream_id = $1 ORDER BY version", ok
            )
        ]
        assert types.index("ChangeRequestApproved") < types.index("FulfilmentStarted")
        assert types[-2:] == ["ChangeRequestClosing", "ChangeRequestClosed"]

        # 2. approved by polling alone; the request fails: closed unsuccessful with why
        sandbox.configure("servicenow", webhook_url="")
        bad = f"cr-bad-{test_id}"
        await platform.submit([(bad, "change-steps", {"message": "boom", "fail": True})])
        record = await eventually(lambda: change_of(sandbox, bad), "a change request for bad")
        await wait_until(db_pool, [bad], {"awaiting_change_approval"}, platform=platform)
        answer = await asyncio.to_thread(decide, sandbox, record["sys_id"], "approved")
        assert answer["webhook"] is None
        ended = await wait_until(db_pool, [bad], platform=platform)
        assert ended[bad] in ("failed", "rolled_back")
        closed = await eventually(
            lambda: (c := change_of(sandbox, bad)) and c["state"] == "3" and c, "bad closed"
        )
        assert closed["close_code"] == "unsuccessful"
        assert "broken on purpose" in closed["close_notes"], closed["close_notes"]

        # 3. ServiceNow answers 500: the request waits with the reason, then proceeds
        sandbox.configure("servicenow", webhook_url=webhook)
        sandbox.fault(
            "servicenow", method="POST", path="/api/now/table/change_request", status=500, times=3
        )
        down = f"cr-down-{test_id}"
        await platform.submit([(down, "change-steps", {"message": "later"})])

        async def last_error() -> str | None:
            return (await view_change(db_pool, down)).get("last_error")

        waiting = await eventually(last_error, "the 500 shown")
        assert "HTTP 500" in waiting
        assert (await wait_until(db_pool, [down], {"awaiting_change_approval"}))[down]
        assert (await view_change(db_pool, down))["retry_at"]
        record = await eventually(
            lambda: change_of(sandbox, down), "a change request once ServiceNow answers"
        )
        await asyncio.to_thread(decide, sandbox, record["sys_id"], "approved")
        assert (await wait_until(db_pool, [down], platform=platform))[down] == "completed"
        closed = await eventually(
            lambda: (c := change_of(sandbox, down)) and c["state"] == "3" and c, "down closed"
        )
        assert closed["close_code"] == "successful"
        failures = await db_pool.fetchval(
            "SELECT count(*) FROM request_events WHERE stream_id = $1"
            " AND event_type = 'ChangeRequestCallFailed'",
            down,
        )
        assert failures >= 1
        assert len([c for c in changes(sandbox) if c["correlation_id"] == down]) == 1
    finally:
        executor.stop()

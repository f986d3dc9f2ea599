"""The servicenow executor against the sandbox ServiceNow over real sockets: one change
request per PAO request however often it is asked, closing leaves an ended one alone,
ServiceNow down is retryable, and the poller announces each decision once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pao_common.cloudevents import CloudEvent
from pao_common.executor.testing import ExecutorHarness
from pao_common.messages import ActionFailed, ActionSucceeded, ChangeRequestDecided, parse_message
from pao_common.servicenow import TableApi, message_id
from pao_executors.servicenow import ApprovalPoller, build_executor, table_api
from pao_executors.servicenow.config import ServiceNowSettings

from tests.support.sandbox import SERVICENOW_PASSWORD, SERVICENOW_USER, SandboxServer

OPEN = {
    "short_description": "PAO: deploy shop for olga (request req-x)",
    "description": "Inputs:\n  app: shop",
    "type": "normal",
    "risk": "3",
    "start_date": "2026-05-04 08:00:00",
    "end_date": "2026-05-04 12:00:00",
    "state": "-4",
    "correlation_id": "req-x",
}


def settings_for(sandbox: SandboxServer, **extra: Any) -> ServiceNowSettings:
    return ServiceNowSettings(url=sandbox.servicenow_url, user=SERVICENOW_USER, **extra)


@pytest.fixture
async def table(sandbox: SandboxServer) -> AsyncIterator[TableApi]:
    from pao_common.executor.secrets import SecretResolver

    secrets = SecretResolver(environ={"PAO_SECRET_SERVICENOW_PASSWORD": SERVICENOW_PASSWORD})
    api = table_api(settings_for(sandbox), secrets)
    yield api
    await api._client.aclose()


@pytest.fixture
def harness(sandbox: SandboxServer, table: TableApi) -> ExecutorHarness:
    return ExecutorHarness(build_executor(lambda: table, sandbox.servicenow_url))


def changes(sandbox: SandboxServer) -> list[dict[str, str]]:
    return list(sandbox.state("servicenow")["records"].get("change_request", []))


async def test_open_is_idempotent_and_close_leaves_an_ended_change_alone(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    first = await harness.execute("servicenow.open_change", OPEN, request_id="req-x")
    again = await harness.execute("servicenow.open_change", OPEN, request_id="req-x")
    assert isinstance(first, ActionSucceeded) and isinstance(again, ActionSucceeded)
    assert first.outputs["created"] is True and again.outputs["created"] is False
    assert first.outputs["number"] == again.outputs["number"] == "CHG0010001"
    assert first.outputs["approval"] == "requested"
    assert first.outputs["url"] == (
        f"{sandbox.servicenow_url}/change_request.do?sys_id={first.outputs['sys_id']}"
    )
    [record] = changes(sandbox)
    assert record["correlation_display"] == "PAO" and record["start_date"] == OPEN["start_date"]

    close = {"correlation_id": "req-x", "state": "3", "close_code": "unsuccessful"}
    closed = await harness.execute(
        "servicenow.close_change", {**close, "close_notes": "step deploy failed: boom"}
    )
    assert isinstance(closed, ActionSucceeded)
    assert closed.outputs["found"] is True and closed.outputs["close_code"] == "unsuccessful"
    twice = await harness.execute("servicenow.close_change", {**close, "close_code": "successful"})
    assert isinstance(twice, ActionSucceeded) and twice.outputs["close_code"] == "unsuccessful"
    [record] = changes(sandbox)
    assert (record["state"], record["active"]) == ("3", "false")
    assert record["close_notes"] == "step deploy failed: boom"

    none = await harness.execute("servicenow.close_change", {**close, "correlation_id": "req-y"})
    assert isinstance(none, ActionSucceeded) and none.outputs["found"] is False


async def test_servicenow_down_is_retryable_and_a_refusal_is_not(
    sandbox: SandboxServer, harness: ExecutorHarness
) -> None:
    sandbox.fault("servicenow", method="POST", path="/api/now/table/change_request", status=503)
    down = await harness.execute("servicenow.open_change", OPEN, request_id="req-x")
    assert isinstance(down, ActionFailed) and down.retryable and "HTTP 503" in down.error
    sandbox.fault("servicenow", method="GET", path="/api/now/table/change_request", status=400)
    refused = await harness.execute("servicenow.open_change", OPEN, request_id="req-x")
    assert isinstance(refused, ActionFailed) and not refused.retryable
    assert changes(sandbox) == []
    bad = await harness.execute("servicenow.open_change", {**OPEN, "risk": "9"})
    assert isinstance(bad, ActionFailed) and bad.error_type == "InvalidActionInputs"


class Collected:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def publish(self, event: CloudEvent) -> None:
        self.events.append(event)


async def test_the_poller_announces_each_decision_once(
    sandbox: SandboxServer, harness: ExecutorHarness, table: TableApi
) -> None:
    for request in ("req-a", "req-b", "req-c"):
        await harness.execute(
            "servicenow.open_change", {**OPEN, "correlation_id": request}, request_id=request
        )
    a, b, _ = changes(sandbox)
    async with httpx.AsyncClient(base_url=sandbox.servicenow_url) as client:
        for sys_id, verb in ((a["sys_id"], "approve"), (b["sys_id"], "reject")):
            answer = await client.post(f"/sandbox/change_request/{sys_id}/{verb}", json={})
            answer.raise_for_status()
    collected = Collected()
    clock = [0.0]
    poller = ApprovalPoller(
        lambda: table, collected, settings_for(sandbox, reannounce_after_s=60), lambda: clock[0]
    )
    assert sorted(await poller.poll_once()) == ["CHG0010001", "CHG0010002"]
    assert await poller.poll_once() == []
    clock[0] = 61.0
    assert len(await poller.poll_once()) == 2  # announced again after a while
    messages = [parse_message(e) for e in collected.events[:2]]
    assert all(isinstance(m, ChangeRequestDecided) for m in messages)
    by_request = {m.request_id: m for m in messages if isinstance(m, ChangeRequestDecided)}
    assert by_request["req-a"].approval == "approved" and by_request["req-b"].approval == "rejected"
    assert collected.events[0].id == message_id(a["sys_id"], "approved")
    await harness.execute(
        "servicenow.close_change", {"correlation_id": "req-a", "state": "3"}, request_id="req-a"
    )
    clock[0] = 200.0
    assert await poller.poll_once() == ["CHG0010002"]  # a closed change leaves the query

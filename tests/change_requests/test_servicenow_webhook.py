"""The gateway's ServiceNow webhook as a process: a signed decision of a PAO change request
becomes ``ChangeRequestDecided`` on Kafka with the poller's message id; forged, unsigned,
foreign and undecided deliveries publish nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pao_common.servicenow import message_id
from pao_common.settings import Settings
from pao_common.topics import Topics

from tests.support.kafka import consume
from tests.support.services import ServiceProcess
from tests.support.webhooks import hub_signature, webhook_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "servicenow-webhook-secret-8c1d"


@pytest.fixture
def gateway(settings: Settings, tmp_path: Path) -> Iterator[ServiceProcess]:
    with webhook_gateway(settings, tmp_path, PAO_SERVICENOW_WEBHOOK_SECRET=SECRET) as service:
        yield service


def record(**fields: str) -> dict[str, Any]:
    return {
        "sys_id": "b" * 32,
        "number": "CHG0010007",
        "approval": "approved",
        "state": "-2",
        "correlation_id": "req-snow-1",
        "correlation_display": "PAO",
        "sys_updated_by": "carla.cab",
        **fields,
    }


def signed(raw: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature": hub_signature(secret, raw), "Content-Type": "application/json"}


async def test_signed_decisions_publish_once_per_decision_and_the_rest_nothing(
    gateway: ServiceProcess, settings: Settings
) -> None:
    hook = f"{gateway.url}/api/v1/webhooks/servicenow"
    approved = json.dumps(record()).encode()
    rejected = json.dumps(
        {"result": record(sys_id="c" * 32, correlation_id="req-snow-2", approval="rejected")}
    ).encode()
    foreign = json.dumps(record(correlation_display="OtherTool")).encode()
    undecided = json.dumps(record(approval="requested")).encode()
    async with httpx.AsyncClient() as client:
        answers = {
            "unsigned": await client.post(hook, content=approved),
            "forged": await client.post(hook, content=approved, headers=signed(approved, "x")),
            "not json": await client.post(hook, content=b"{", headers=signed(b"{")),
            "foreign": await client.post(hook, content=foreign, headers=signed(foreign)),
            "undecided": await client.post(hook, content=undecided, headers=signed(undecided)),
            "approved": await client.post(hook, content=approved, headers=signed(approved)),
            "rejected": await client.post(
                hook, content=rejected, headers={"Authorization": f"Bearer {SECRET}"}
            ),
        }
    assert {k: r.status_code for k, r in answers.items()} == {
        "unsigned": 401,
        "forged": 401,
        "not json": 400,
        "foreign": 200,
        "undecided": 200,
        "approved": 202,
        "rejected": 202,
    }
    assert answers["undecided"].json()["status"] == "ignored"
    assert answers["approved"].json()["message_id"] == message_id("b" * 32, "approved")

    commands = Topics(settings.topic_suffix).request_commands
    records = await consume(settings.kafka_bootstrap, commands, count=3, timeout_s=8.0)
    bodies = {r.key.decode(): (dict(r.headers), json.loads(r.value)) for r in records}
    assert sorted(bodies) == ["req-snow-1", "req-snow-2"]
    headers, body = bodies["req-snow-1"]
    assert headers["ce_type"] == b"pao.request.change-request-decided"
    assert headers["ce_id"].decode() == message_id("b" * 32, "approved")
    assert (body["number"], body["approval"], body["by"]) == ("CHG0010007", "approved", "carla.cab")
    assert bodies["req-snow-2"][1]["approval"] == "rejected"
    assert SECRET not in gateway.log_path.read_text()

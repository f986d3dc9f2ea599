"""The gateway's JIRA webhook, end to end: sandbox JIRA -> gateway process -> Kafka."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pao_common.executor.testing import ExecutorHarness
from pao_common.jira_tickets import message_id
from pao_common.settings import Settings
from pao_orchestrator.domain.state import TICKET_STEP

from tests.executors_jira.test_jira_executor import TICKET
from tests.support.kafka import consume
from tests.support.sandbox import SandboxServer
from tests.support.services import ServiceProcess
from tests.support.webhooks import hub_signature, webhook_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "webhook-shared-secret-3f9a"


@pytest.fixture
def gateway(settings: Settings, tmp_path: Path) -> Iterator[ServiceProcess]:
    with webhook_gateway(settings, tmp_path, PAO_JIRA_WEBHOOK_SECRET=SECRET) as service:
        yield service


def resolve(sandbox: SandboxServer, key: str, resolution: str, comment: str) -> dict[str, Any]:
    response = httpx.post(
        f"{sandbox.jira_url}/sandbox/issues/{key}/resolve",
        json={"resolution": resolution, "comment": comment},
    )
    response.raise_for_status()
    delivery: dict[str, Any] = response.json()["webhook"]
    return delivery


async def test_resolution_webhook_with_the_right_secret_publishes_ticket_resolved(
    sandbox: SandboxServer,
    harness: ExecutorHarness,
    gateway: ServiceProcess,
    settings: Settings,
) -> None:
    hook = f"{gateway.url}/api/v1/webhooks/jira"
    sandbox.configure("jira", webhook_url=hook, webhook_secret=SECRET)
    await harness.execute("jira", TICKET, request_id="req-done", step_id=TICKET_STEP)
    await harness.execute("jira", TICKET, request_id="req-wont", step_id=TICKET_STEP)
    await harness.execute("jira", TICKET, request_id="req-forged", step_id=TICKET_STEP)

    done = resolve(sandbox, "NETSEC-1", "Done", "Rule applied.")
    wont = resolve(sandbox, "NETSEC-2", "Won't Do", "Use the shared egress instead.")
    sandbox.configure("jira", webhook_secret="not-the-secret")
    forged = resolve(sandbox, "NETSEC-3", "Done", "forged")

    assert done["attempts"] == [{"status": 202}]
    assert wont["attempts"] == [{"status": 202}]
    assert forged["attempts"] == [{"status": 401}]  # refused, and JIRA does not retry a 401
    records = await consume(settings.kafka_bootstrap, _commands(settings), count=3, timeout_s=8.0)
    bodies = {r.key.decode(): (dict(r.headers), json.loads(r.value)) for r in records}
    assert sorted(bodies) == ["req-done", "req-wont"]  # nothing for the forged delivery
    headers, body = bodies["req-done"]
    assert headers["ce_type"] == b"pao.request.ticket-resolved"
    assert headers["ce_id"].decode() == message_id("NETSEC-1", "Done")
    assert (body["ticket_key"], body["outcome"]) == ("NETSEC-1", "done")
    _, body = bodies["req-wont"]
    assert body["outcome"] == "wont_do"
    assert body["reason"] == "Won't Do: Use the shared egress instead."


async def test_webhook_secret_forms_and_refusals(
    sandbox: SandboxServer, gateway: ServiceProcess
) -> None:
    hook = f"{gateway.url}/api/v1/webhooks/jira"
    event = {"webhookEvent": "jira:issue_updated", "issue": {"key": "X-1", "fields": {}}}
    raw = json.dumps(event).encode()
    signature = hub_signature(SECRET, raw)
    wrong = hub_signature("nope", raw)

    async with httpx.AsyncClient() as client:
        answers = {
            "none": await client.post(hook, content=raw),
            "bad signature": await client.post(
                hook, content=raw, headers={"X-Hub-Signature": wrong}
            ),
            "bad bearer": await client.post(
                hook, content=raw, headers={"Authorization": "Bearer x"}
            ),
            "bad query": await client.post(hook, params={"secret": "x"}, content=raw),
            "signature": await client.post(hook, content=raw, headers=signed(signature)),
            "bearer": await client.post(hook, content=raw, headers=bearer(SECRET)),
            "query": await client.post(hook, params={"secret": SECRET}, content=raw),
        }

    assert {k: r.status_code for k, r in answers.items()} == {
        "none": 401,
        "bad signature": 401,
        "bad bearer": 401,
        "bad query": 401,
        "signature": 200,
        "bearer": 200,
        "query": 200,
    }
    assert answers["signature"].json() == {
        "status": "ignored",
        "reason": "not a resolved PAO ticket",
        "key": "X-1",
    }
    assert SECRET not in gateway.log_path.read_text()


def signed(signature: str) -> dict[str, str]:
    return {"X-Hub-Signature": signature}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _commands(settings: Settings) -> str:
    from pao_common.topics import Topics

    return Topics(settings.topic_suffix).request_commands

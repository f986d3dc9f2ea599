"""Notifications: the policy refuses hostile templates at load (file:line); the notifier,
a real process following the request events on the real broker, e-mails the right people
through a local SMTP server (aiosmtpd), and a chat webhook that answers 500 is retried,
then recorded as failed, while the request's own events go on unchanged."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from pao_common.kafka import ensure_topics
from pao_common.messages import ApproveRequest, RequestEvent
from pao_common.settings import Settings
from pao_common.topics import Topics
from pao_devtools.ports import free_port
from pao_notifier.errors import InvalidPolicy
from pao_notifier.policy import load_policy, parse_policy
from pao_orchestrator.domain.evolve import reduce

from tests.change.test_staged_approvals import ANA, BEN, SEC, TWO_STAGES
from tests.orchestrator.items import Run, automated_item
from tests.support.services import ServiceProcess, service_env

REPO = Path(__file__).resolve().parents[2]


def test_shipped_policy_loads() -> None:
    policy = load_policy(REPO / "policies" / "notifications.yaml")
    assert policy.routing("firewall-change").email == ("requester", "team:network")


def test_templates_that_escape_the_sandbox_are_refused_at_load() -> None:
    text = (
        'schemaVersion: "1.0"\n'
        "kind: NotificationPolicy\n"
        "templates:\n"
        "  completed:\n"
        '    subject: "{{ request.__class__.__mro__ }}"\n'
        "    body: \"{{ user | attr('__init__') }} {{ inputs.password }}\"\n"
        "  failed:\n"
        "    subject: \"{{ ''.format }}\"\n"
        "    body: ok\n"
        "items:\n"
        "  x: {email: [team:nobody, bob]}\n"
    )
    with pytest.raises(InvalidPolicy) as caught:
        parse_policy(text, "notify.yaml")
    assert caught.value.problems == [
        "notify.yaml:5 templates.completed.subject:"
        " '__mro__' is an internal attribute: escapes the template sandbox",
        "notify.yaml:5 templates.completed.subject:"
        " '__class__' is an internal attribute: escapes the template sandbox",
        "notify.yaml:6 templates.completed.body: the attr filter reaches past the data:"
        " not allowed",
        "notify.yaml:6 templates.completed.body: unknown variable inputs.password"
        " (use event, request, system, user)",
        "notify.yaml:8 templates.failed.subject:"
        " 'format' is an internal attribute: escapes the template sandbox",
        "notify.yaml:11 items.x.email[0]: no team 'nobody' under teams:",
        "notify.yaml:11 items.x.email[1]: 'bob' is not an address, 'requester' or 'team:<name>'",
    ]


# --- the notifier as a process -------------------------------------------------------------


class Inbox:
    """aiosmtpd's handler: every message it receives, with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=email_policy.default)
        self.messages.append(
            {"rcpt": sorted(envelope.rcpt_tos), "subject": parsed["Subject"], "body": parsed}
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class FailingWebhook:
    """A chat webhook that answers every POST with HTTP 500 (and counts them)."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.port = free_port()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        self.hits.append(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops")
        await writer.drain()
        writer.close()

    async def start(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", self.port)


def _public(run: Run, request_id: str) -> list[RequestEvent]:
    """The run's events as the orchestrator's relay publishes them."""
    out = []
    for index, event in enumerate(run.events):
        state = reduce(run.events[: index + 1])
        out.append(
            RequestEvent(
                request_id=request_id,
                event_type=event.event_type,
                version=state.version,
                status=state.status,
                occurred_at=event.occurred_at,
                data=event.model_dump(mode="json", exclude={"occurred_at"}),
            )
        )
    return out


async def _wait(check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.integration
async def test_emails_reach_the_approvers_and_the_requester_and_a_500_webhook_fails_alone(
    settings: Settings,
    db_pool: asyncpg.Pool,
    smtp: tuple[Inbox, int],
    tmp_path: Path,
) -> None:
    inbox, smtp_port = smtp
    hook = FailingWebhook()
    server = await hook.start()
    policy = tmp_path / "notifications.yaml"
    policy.write_text(
        'schemaVersion: "1.0"\nkind: NotificationPolicy\nfrom: pao@example.com\n'
        "directory: {email_domain: example.com}\n"
        "teams:\n"
        "  security:\n"
        "    email: [security@example.com]\n"
        f"    chat: [{{name: sec-chat, url: 'http://127.0.0.1:{hook.port}/hook'}}]\n"
    )
    topics = Topics(settings.topic_suffix)
    await ensure_topics(settings.kafka_bootstrap, [topics.request_events], partitions=3)
    env = service_env(
        settings,
        PAO_NOTIFICATIONS_POLICY=str(policy),
        PAO_SMTP_PORT=str(smtp_port),
        PAO_NOTIFY_ATTEMPTS="3",
        PAO_NOTIFY_BACKOFF_S="0.1",
    )
    notifier = ServiceProcess("pao_notifier", env, tmp_path).start(wait_ready_s=60)

    # A real request's history: two approval stages, then it runs and completes.
    run = Run(automated_item(approval=TWO_STAGES), request_id=f"req-{settings.topic_suffix}")
    rid = run.request_id
    run.submit()
    for who in (ANA, BEN, SEC):
        run.send(ApproveRequest(request_id=rid, by=who))
    while run.state.status == "in_progress":
        run.succeed({"host": "db-1"})
    assert run.state.status == "completed"
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=0)
    await producer.start()
    try:
        for event in [*_public(run, rid), *_public(run, rid)[-1:]]:  # the last one twice
            await producer.send_and_wait(
                topics.request_events,
                event.model_dump_json().encode(),
                key=rid.encode(),
                headers=[
                    ("ce_specversion", b"1.0"),
                    ("ce_id", f"{rid}:{event.version}".encode()),
                    ("ce_type", event.ce_type.encode()),
                    ("ce_source", b"test"),
                    ("ce_subject", rid.encode()),
                    ("content-type", b"application/json"),
                ],
            )

        async def settled() -> list[asyncpg.Record] | None:
            rows = await db_pool.fetch(
                "SELECT trigger, channel, target, status, attempts, last_error"
                " FROM notification_log WHERE request_id = $1 ORDER BY event_version, channel",
                rid,
            )
            done = len(rows) == 4 and all(r["status"] != "pending" for r in rows)
            return rows if done else None

        rows = await _wait(settled)
    finally:
        await producer.stop()
        notifier.stop()
        server.close()

    assert [(r["trigger"], r["channel"], r["target"], r["status"]) for r in rows] == [
        ("awaiting_approval", "email", "ana@example.com, ben@example.com", "sent"),
        ("awaiting_approval", "email", "security@example.com", "sent"),
        ("awaiting_approval", "slack", "sec-chat", "failed"),
        ("completed", "email", "alice@example.com", "sent"),
    ]
    failed = rows[2]
    assert failed["attempts"] == 3 and failed["last_error"] == "webhook answered HTTP 500"
    assert len(hook.hits) == 3 and "awaits your approval" in hook.hits[0]["text"]
    assert sorted((m["rcpt"][0], len(m["rcpt"])) for m in inbox.messages) == [
        ("alice@example.com", 1),
        ("ana@example.com", 2),
        ("security@example.com", 1),
    ]
    first = next(m for m in inbox.messages if "ana@example.com" in m["rcpt"])
    assert first["rcpt"] == ["ana@example.com", "ben@example.com"]
    assert "stage: data owners" in first["body"].get_content().lower()
    # the notifier never touched the request: its last event is still RequestCompleted
    assert run.types()[-1] == "RequestCompleted"


def test_a_change_request_opened_after_its_decision_tells_nothing_of_waiting() -> None:
    from datetime import UTC, datetime

    from pao_notifier.routing import RequestFacts, plan

    policy = load_policy(REPO / "policies" / "notifications.yaml")
    facts = RequestFacts("req-1", "production-access", {"id": "rita", "email": "r@example.com"})
    opened = {"sys_id": "abc", "number": "CHG0010001", "url": "https://sn/abc"}

    def event(event_type: str, status: str, data: dict[str, Any]) -> RequestEvent:
        return RequestEvent(
            request_id="req-1",
            event_type=event_type,
            version=7,
            status=status,
            occurred_at=datetime(2026, 5, 4, tzinfo=UTC),
            data=data,
        )

    waiting = plan(
        event("ChangeRequestOpened", "awaiting_change_approval", opened), facts, policy, {}
    )
    assert [(n.trigger, n.target) for n in waiting if n.channel == "email"] == [
        ("awaiting_change_approval", "r@example.com, security-approvals@example.com")
    ]
    assert "CHG0010001" in waiting[0].subject and "https://sn/abc" in waiting[0].body
    # the approval came before the executor's answer to the opening: the request runs
    assert plan(event("ChangeRequestOpened", "in_progress", opened), facts, policy, {}) == []

"""The orchestrator as a real process on the real broker and PostgreSQL.

A small responder written with bare aiokafka stands in for the executors: it answers
``ExecuteAction`` / ``CompensateAction`` on the action topics the way an executor would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pao_common.kafka import ensure_topics
from pao_common.settings import Settings
from pao_common.topics import Topics

from tests.orchestrator.items import automated_item, manual_item
from tests.support.catalog import serve_history
from tests.support.credentials import credential_for
from tests.support.kafka import consume
from tests.support.services import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _headers(ce_type: str, subject: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", ce_type.encode()),
        ("ce_source", b"test-responder"),
        ("ce_subject", subject.encode()),
        ("content-type", b"application/json"),
    ]


class Responder:
    """Answers action commands: jira makes a ticket, debug.log echoes, rest.* fails."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.seen: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)

    async def start(self) -> None:
        names = [self.topics.actions(t) for t in ("debug", "jira", "rest")]
        await ensure_topics(self.bootstrap, [*names, self.topics.action_results], partitions=3)
        await self.producer.start()
        consumer = AIOKafkaConsumer(
            *names,
            bootstrap_servers=self.bootstrap,
            group_id=f"responder-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=5,
        )
        await consumer.start()
        self._task = asyncio.create_task(self._serve(consumer))

    async def _serve(self, consumer: AIOKafkaConsumer) -> None:
        try:
            async for record in consumer:
                headers = {k: v.decode() for k, v in record.headers}
                body = json.loads(record.value)
                self.seen.append({"type": headers["ce_type"], **body})
                await self._answer(headers["ce_type"], body)
        finally:
            await consumer.stop()

    async def _answer(self, ce_type: str, cmd: dict[str, Any]) -> None:
        result = {k: cmd[k] for k in ("command_id", "request_id", "step_id", "attempt")}
        action = cmd["action_type"]
        extra: dict[str, Any]
        if ce_type == "pao.action.compensate":
            kind, extra = "pao.action.succeeded", {"outputs": {"undone": True}}
        elif action == "jira":
            key = f"OPS-{len(self.seen)}"
            kind, extra = (
                "pao.action.succeeded",
                {"outputs": {"key": key, "url": f"https://j/{key}"}},
            )
        elif action.startswith("rest."):
            kind, extra = "pao.action.failed", {"error": "HTTP 403 forbidden", "retryable": False}
        else:
            kind, extra = "pao.action.succeeded", {"outputs": {"host": "db-1", **cmd["inputs"]}}
        started = {**result, "executor": "responder"}
        for ce_type_out, body in (("pao.action.started", started), (kind, {**result, **extra})):
            await self.producer.send_and_wait(
                self.topics.action_results,
                json.dumps(body).encode(),
                key=cmd["request_id"].encode(),
                headers=_headers(ce_type_out, cmd["request_id"]),
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.producer.stop()


async def _publish_item(pool: asyncpg.Pool, item: Any, item_id: str) -> None:
    doc = item.to_document()
    doc["metadata"]["id"] = item_id
    await pool.execute(
        "INSERT INTO catalog_item_versions (item_id, version, content_hash, document)"
        " VALUES ($1, $2, 'h', $3::jsonb)",
        item_id,
        doc["metadata"]["version"],
        json.dumps(doc),
    )


async def _submit(settings: Settings, request_id: str, item_id: str, **extra: Any) -> None:
    await _command(
        settings,
        "pao.request.submit",
        {
            "request_id": request_id,
            "item_id": item_id,
            "inputs": {"name": "orders"},
            "requester": {"id": "alice", "teams": ["payments"]},
            **extra,
        },
    )


async def _command(settings: Settings, ce_type: str, body: dict[str, Any]) -> None:
    headers = _headers(ce_type, body["request_id"])
    person = body.get("requester") or body.get("by")
    if person is not None:  # a command acting for a person carries its bearer token
        headers.append(credential_for(settings, person))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            Topics(settings.topic_suffix).request_commands,
            json.dumps(body).encode(),
            key=body["request_id"].encode(),
            headers=headers,
        )
    finally:
        await producer.stop()


async def _view_when(
    pool: asyncpg.Pool, request_id: str, statuses: set[str], timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    row = None
    while time.monotonic() < deadline:
        row = await pool.fetchrow("SELECT * FROM request_view WHERE request_id = $1", request_id)
        if row is not None and row["status"] in statuses:
            out = dict(row)
            for c in ("steps", "ticket", "outputs"):
                out[c] = json.loads(out[c]) if isinstance(out[c], str) else out[c]
            return out
        await asyncio.sleep(0.05)
    raise AssertionError(f"{request_id} never reached {statuses}: {row and dict(row)}")


@pytest.fixture
async def orchestrator(
    settings: Settings, tmp_path: Path, db_pool: asyncpg.Pool
) -> AsyncIterator[ServiceProcess]:
    # The orchestrator reads item versions through the catalog's API: here the catalog's
    # API over this test's version history, which ``_publish_item`` writes.
    async with serve_history(settings.database_url) as catalog_url:
        env = service_env(settings.model_copy(update={"catalog_url": catalog_url}))
        service = ServiceProcess("pao_orchestrator", env, tmp_path)
        await asyncio.to_thread(service.start)
        try:
            yield service
        finally:
            await asyncio.to_thread(service.stop)


async def test_manual_and_automated_requests_reach_terminal_states(
    settings: Settings, db_pool: asyncpg.Pool, orchestrator: ServiceProcess
) -> None:
    suffix = settings.topic_suffix
    topics = Topics(suffix)
    responder = Responder(settings.kafka_bootstrap, topics)
    await responder.start()
    try:
        manual_id, auto_id = f"vm{suffix}", f"db{suffix}"
        await _publish_item(db_pool, manual_item(), manual_id)
        await _publish_item(db_pool, automated_item(fallback=False), auto_id)

        # manual: one jira action, then the ticket is resolved
        await _submit(settings, "req-manual" + suffix, manual_id)
        view = await _view_when(db_pool, "req-manual" + suffix, {"in_progress"})
        deadline = time.monotonic() + 30
        while view["ticket"] is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            view = await _view_when(db_pool, "req-manual" + suffix, {"in_progress"})
        assert view["ticket"] is not None
        key = view["ticket"]["key"]
        await _command(
            settings,
            "pao.request.ticket-resolved",
            {"request_id": "req-manual" + suffix, "ticket_key": key, "outcome": "done"},
        )
        done = await _view_when(db_pool, "req-manual" + suffix, {"completed", "failed"})
        assert done["status"] == "completed"
        assert done["outputs"]["ticket_key"] == key

        # automated: create succeeds, grant (rest.call) fails -> create is rolled back
        await _submit(settings, "req-auto" + suffix, auto_id)
        ended = await _view_when(
            db_pool, "req-auto" + suffix, {"rolled_back", "failed", "completed"}
        )
        assert ended["status"] == "rolled_back"
        assert [(s["id"], s["status"]) for s in ended["steps"]] == [
            ("create", "compensated"),
            ("backup", "skipped"),
            ("grant", "failed"),
            ("notify", "skipped"),  # never reached: it will not run
        ]
        assert ended["error"] == "step grant failed: HTTP 403 forbidden"
        kinds = [
            (c["type"], c["step_id"])
            for c in responder.seen
            if c["request_id"].startswith("req-auto")
        ]
        assert kinds == [
            ("pao.action.execute", "create"),
            ("pao.action.execute", "grant"),
            ("pao.action.compensate", "create"),
        ]

        # the same submission again (a redelivery) changes nothing
        await _submit(settings, "req-auto" + suffix, auto_id)
        # invalid submission over Kafka: failed with the field named
        await _submit(settings, "req-bad" + suffix, auto_id, inputs={"size": "x"})
        bad = await _view_when(db_pool, "req-bad" + suffix, {"failed"})
        assert "name" in bad["error"]
        versions = await db_pool.fetchval(
            "SELECT count(*) FROM request_events WHERE stream_id = $1", "req-auto" + suffix
        )
        assert versions == ended["last_version"]

        # the public event log carries every stored event of the request, in order
        records = await consume(
            settings.kafka_bootstrap, topics.request_events, count=200, timeout_s=5
        )
        auto = [json.loads(r.value) for r in records if r.key == ("req-auto" + suffix).encode()]
        assert [e["version"] for e in auto] == list(range(1, versions + 1))
        assert auto[-1]["status"] == "rolled_back"
    finally:
        await responder.stop()

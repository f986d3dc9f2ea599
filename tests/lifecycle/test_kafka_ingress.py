"""Must-show: other systems submit over Kafka and follow the request on its event topic.

Written with bare aiokafka only (no PAO helpers), CloudEvents binary-mode headers by
hand, exactly as docs/kafka-api.md tells another team to do it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.lifecycle.conftest import start_platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The submitting system's trace: every message PAO sends for the request continues it.
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def headers(ce_type: str, request_id: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"urn:other-system:provisioner"),
        ("ce_type", ce_type.encode()),
        ("ce_subject", request_id.encode()),
        ("ce_time", b"2026-01-01T12:00:00Z"),
        ("content-type", b"application/json"),
    ]


async def read_until(
    bootstrap: str, topic: str, done: Any, *, deadline_s: float = 120.0
) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"other-system-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    seen: list[Any] = []
    stop = time.monotonic() + deadline_s
    try:
        while time.monotonic() < stop:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen.extend(records)
            if done(seen):
                return seen
        raise AssertionError(f"{topic}: condition not met; saw {len(seen)} record(s)")
    finally:
        await consumer.stop()


async def test_submit_over_kafka_and_follow_events(make_platform, test_id: str) -> None:
    platform = await start_platform(make_platform())
    topics = platform.topics
    request_id = f"ingress-{test_id}"
    producer = AIOKafkaProducer(bootstrap_servers=platform.bootstrap)
    await producer.start()
    try:
        body = {
            "request_id": request_id,
            "item_id": "debug-echo",
            "inputs": {"message": "hello from another system"},
            "requester": {"id": "svc-provisioner", "teams": ["platform"]},
        }
        await producer.send_and_wait(
            topics.request_commands,
            json.dumps(body).encode(),
            key=request_id.encode(),
            headers=[
                *headers("pao.request.submit", request_id),
                ("traceparent", TRACEPARENT.encode()),
            ],
        )
        # two malformed messages: a submission without item_id, and a body that is no JSON
        await producer.send_and_wait(
            topics.request_commands,
            json.dumps({**body, "request_id": f"{request_id}-bad", "item_id": None}).encode(),
            key=f"{request_id}-bad".encode(),
            headers=headers("pao.request.submit", f"{request_id}-bad"),
        )
        await producer.send_and_wait(
            topics.request_commands,
            b"{not json",
            key=f"{request_id}-garbage".encode(),
            headers=headers("pao.request.submit", f"{request_id}-garbage"),
        )
    finally:
        await producer.stop()

    def completed(records: list[Any]) -> bool:
        return any(
            r.key == request_id.encode() and json.loads(r.value)["status"] == "completed"
            for r in records
        )

    records = await read_until(platform.bootstrap, topics.request_events, completed)
    mine = [r for r in records if r.key == request_id.encode()]
    events = [json.loads(r.value) for r in mine]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event_type"] == "RequestSubmitted"
    assert events[-1]["event_type"] == "RequestCompleted"
    assert events[-1]["data"]["outputs"] == {"message": "hello from another system"}
    first = dict(mine[0].headers)
    assert first["ce_type"] == b"pao.request.event"
    assert first["ce_subject"] == request_id.encode()
    # The trace crosses the orchestrator (outbox) and the executor (command and answer):
    # the events of both commits, before and after the action ran, carry it.
    traces = {dict(r.headers)["traceparent"].decode().split("-")[1] for r in mine}
    assert traces == {TRACE_ID}, traces

    def dead(records: list[Any]) -> bool:
        keys = {r.key for r in records}
        return {f"{request_id}-bad".encode(), f"{request_id}-garbage".encode()} <= keys

    letters = {
        r.key.decode(): {k: v.decode() for k, v in r.headers}
        for r in await read_until(platform.bootstrap, topics.dlq, dead)
    }
    bad = letters[f"{request_id}-bad"]
    assert bad["pao_dlq_source_topic"] == topics.request_commands
    assert "item_id" in bad["pao_dlq_reason"], bad["pao_dlq_reason"]
    garbage = letters[f"{request_id}-garbage"]
    assert garbage["pao_dlq_error_type"] == "InvalidMessage"
    assert "json" in garbage["pao_dlq_reason"].lower(), garbage["pao_dlq_reason"]

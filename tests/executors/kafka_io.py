"""Bare-aiokafka helpers for the executor tests: commands in, results out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI


@dataclass
class Record:
    topic: str
    key: bytes | None
    headers: dict[str, str]
    value: bytes

    @property
    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.value)
        return data

    @property
    def type(self) -> str:
        return self.headers.get("ce_type", "")


def ce_headers(ce_type: str, subject: str, ce_id: str | None = None) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", (ce_id or str(uuid.uuid4())).encode()),
        ("ce_type", ce_type.encode()),
        ("ce_source", b"tests/executors"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("ce_subject", subject.encode()),
        ("content-type", b"application/json"),
    ]


def execute_body(action_type: str, inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "command_id": f"cmd-{uuid.uuid4().hex[:12]}",
        "request_id": f"req-{uuid.uuid4().hex[:12]}",
        "step_id": "step-1",
        "action_type": action_type,
        "attempt": 1,
        "inputs": inputs,
        "timeout_s": 30,
    }
    body.update(fields)
    return body


class Producer:
    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def command(
        self, topic: str, body: dict[str, Any], *, ce_type: str = "pao.action.execute"
    ) -> None:
        await self.raw(
            topic,
            json.dumps(body).encode(),
            key=body["request_id"].encode(),
            headers=ce_headers(ce_type, body["request_id"]),
        )

    async def raw(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        await self._producer.send_and_wait(topic, value, key=key, headers=headers or [])


class Reader:
    """Everything published on ``topics`` since the start, collected in the background.

    Partitions are assigned directly (no consumer group), so reading starts at once.
    """

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self._topics = topics
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        self.records: list[Record] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Reader:
        await self._consumer.start()
        await self._consumer.topics()  # load metadata
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        assert partitions, f"topics {self._topics} do not exist"
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _pump(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    headers = {k: v.decode("utf-8", "replace") for k, v in r.headers}
                    self.records.append(Record(r.topic, r.key, headers, r.value or b""))

    def where(self, predicate: Callable[[Record], bool]) -> list[Record]:
        return [r for r in self.records if predicate(r)]

    def for_command(self, command_id: str) -> list[Record]:
        return [
            r
            for r in self.records
            if "pao_dlq_reason" not in r.headers
            and r.type.startswith("pao.action.")
            and r.body.get("command_id") == command_id
        ]

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                seen = [
                    (r.topic, r.type, r.body if r.value[:1] == b"{" else r.value)
                    for r in self.records
                ]
                raise AssertionError(f"condition not met; records so far: {seen}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run ``app``'s lifespan in this event loop; put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

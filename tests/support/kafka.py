"""Read and write test topics with bare aiokafka (independent of the code under test)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def produce(
    bootstrap: str,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers or [])
    finally:
        await producer.stop()


async def consume(
    bootstrap: str, topic: str, *, count: int, timeout_s: float = 20.0
) -> list[ConsumerRecord[Any, Any]]:
    """The first ``count`` records of ``topic`` (from the beginning)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


async def wait_for(predicate: Any, timeout_s: float = 20.0, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(interval_s)
    raise TimeoutError("condition not met in time")


async def records_until_sentinels(
    bootstrap: str, topic: str, keys: list[str], *, timeout_s: float = 20.0
) -> list[Any]:
    """Every record of ``topic`` on the partitions of ``keys``, up to a sentinel record
    produced now with each key: what was published before is all there, so "published
    exactly once" can be asserted without waiting for a timeout."""
    marker = uuid.uuid4().hex.encode()
    for key in keys:
        await produce(bootstrap, topic, b"{}", key=key.encode(), headers=[("sentinel", marker)])

    # No consumer group (joining one takes seconds on the dev broker): read every partition.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=20
    )
    await consumer.start()
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    await consumer.seek_to_beginning()
    records: list[Any] = []
    pending = set(keys)
    deadline = time.monotonic() + timeout_s
    try:
        while pending and time.monotonic() < deadline:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                for record in part:
                    if ("sentinel", marker) in list(record.headers):
                        pending.discard(record.key.decode())
                    elif not any(h[0] == "sentinel" for h in record.headers):
                        records.append(record)
        if pending:
            raise TimeoutError(f"sentinels for {sorted(pending)} not seen")
        return records
    finally:
        await consumer.stop()

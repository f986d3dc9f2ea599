"""``publish_event`` / ``enqueue_event`` hand records to aiokafka's producer themselves: the
records are the ones FastStream's ``publish`` made (headers, their order, key, value)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.state import RealProducer
from pao_common.cloudevents import CloudEvent
from pao_common.kafka import create_broker, enqueue_event, publish_event
from pao_common.settings import Settings


class CapturingProducer(AIOKafkaProducer):  # type: ignore[misc]  # untyped aiokafka
    """An aiokafka producer that keeps what it is given (never started, no connection)."""

    def __init__(self) -> None:  # no client: nothing here connects
        self.sent: list[dict[str, Any]] = []

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        self.sent.append(
            {
                "topic": topic,
                "value": value,
                "key": key,
                "partition": partition,
                "timestamp_ms": timestamp_ms,
                "headers": headers,
            }
        )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _broker() -> tuple[KafkaBroker, CapturingProducer]:
    broker = create_broker(Settings(), client_id="wire")
    producer = CapturingProducer()
    broker.config.producer._producer = RealProducer(producer)  # type: ignore[attr-defined]
    return broker, producer


EVENTS = [
    CloudEvent(
        type="pao.request.event",
        source="pao/orchestrator",
        subject="r-1",
        data={"request_id": "r-1", "n": 1, "text": "é"},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        extensions={"authtoken": "a.b.c", "other": "x"},
    ),
    CloudEvent(type="pao.catalog.item.published", source="pao/catalog", data={}),
]


async def test_records_are_the_ones_faststream_made() -> None:
    broker, producer = _broker()
    for event in EVENTS:
        await enqueue_event(broker, "t.events", event)
        await publish_event(broker, "t.events", event)
        # FastStream's own path, as publish_event took it before.
        headers = {k: v.decode() for k, v in event.headers()}
        await broker.publish(event.value(), "t.events", key=event.key(), headers=headers)
    assert len(producer.sent) == 3 * len(EVENTS)
    for i in range(0, len(producer.sent), 3):
        ours, ours_again, faststream = producer.sent[i : i + 3]
        for record in (ours, ours_again, faststream):
            names = [name for name, _ in record["headers"]]
            assert names[:2] == ["content-type", "correlation_id"]
            correlation = dict(record["headers"])["correlation_id"].decode()
            assert uuid.UUID(correlation).version == 4
        assert _without_correlation(ours) == _without_correlation(faststream)
        assert _without_correlation(ours_again) == _without_correlation(faststream)
        assert (
            dict(ours["headers"])["correlation_id"] != dict(ours_again["headers"])["correlation_id"]
        )


async def test_broker_middlewares_keep_faststreams_path() -> None:
    broker, producer = _broker()
    seen: list[Any] = []

    class Middleware:
        def __init__(self, msg: Any, *, context: Any) -> None:
            pass

        async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
            seen.append(cmd)
            return await call_next(cmd)

    broker.add_middleware(Middleware)  # type: ignore[arg-type]
    await publish_event(broker, "t.events", EVENTS[0])
    assert len(seen) == 1 and len(producer.sent) == 1


def _without_correlation(record: dict[str, Any]) -> dict[str, Any]:
    headers = [(k, v) for k, v in record["headers"] if k != "correlation_id"]
    return {**record, "headers": headers}

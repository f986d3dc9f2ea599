"""A broken message goes to the DLQ with its reason; the consumer goes on consuming."""

from __future__ import annotations

import json

import pytest
from pao_common.cloudevents import CloudEvent
from pao_common.dlq import DeadLetterPublisher
from pao_common.errors import MessageRefused
from pao_common.kafka import create_broker, ensure_topics, publish_event, subscribe
from pao_common.messages import (
    ApproveRequest,
    CancelRequest,
    Message,
    Requester,
    to_cloudevent,
)
from pao_common.settings import Settings
from pao_common.topics import Topics

from tests.support.kafka import consume, produce, wait_for

pytestmark = pytest.mark.integration


def ce_headers(ce_id: str, ce_type: str) -> list[tuple[str, bytes]]:
    """The required CloudEvents headers (binary mode) of a hand-made record."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id.encode()),
        ("ce_type", ce_type.encode()),
        ("ce_source", b"test"),
    ]


async def test_broken_body_goes_to_dlq_and_next_message_is_handled(settings: Settings) -> None:
    topics = Topics(settings.topic_suffix)
    await ensure_topics(settings.kafka_bootstrap, topics.core(), partitions=1)
    broker = create_broker(settings, client_id="dlq-test")
    handled: list[Message] = []

    async def handler(message: Message, event: CloudEvent) -> None:
        if isinstance(message, CancelRequest) and message.reason == "explode":
            raise ValueError("handler cannot cope")
        if isinstance(message, CancelRequest) and message.reason == "refuse":
            raise MessageRefused("forbidden: not yours", error_type="Forbidden")
        handled.append(message)

    subscribe(
        broker,
        {topics.request_commands: (CancelRequest,)},
        handler,
        group_id="dlq-test",
        dlq=DeadLetterPublisher(broker, topics.dlq, source="dlq-test"),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    await broker.start()
    try:
        ce = ce_headers("bad-1", CancelRequest.ce_type)
        await produce(
            settings.kafka_bootstrap, topics.request_commands, b"{broken", key=b"r-1", headers=ce
        )
        await produce(settings.kafka_bootstrap, topics.request_commands, b"\x00\xff", key=b"r-1")
        alice = Requester(id="alice")
        explode = to_cloudevent(
            CancelRequest(request_id="r-1", by=alice, reason="explode"), source="t", subject="r-1"
        )
        await publish_event(broker, topics.request_commands, explode)
        refuse = to_cloudevent(
            CancelRequest(request_id="r-1", by=alice, reason="refuse"), source="t", subject="r-1"
        )
        await publish_event(broker, topics.request_commands, refuse)
        good = to_cloudevent(
            CancelRequest(request_id="r-1", by=alice, reason="ok"), source="t", subject="r-1"
        )
        await publish_event(broker, topics.request_commands, good)

        await wait_for(lambda: len(handled) == 1)
        assert handled[0] == CancelRequest(request_id="r-1", by=alice, reason="ok")

        dead = await consume(settings.kafka_bootstrap, topics.dlq, count=4)
        reasons = [dict((k, v.decode()) for k, v in r.headers) for r in dead]
        assert [r["pao_dlq_error_type"] for r in reasons] == [
            "InvalidMessage",
            "InvalidMessage",
            "ValueError",
            "Forbidden",
        ]
        # a refusal is dead-lettered with the handler's own reason, as it gave it
        assert reasons[3]["pao_dlq_reason"] == "forbidden: not yours"
        assert "body is not JSON" in reasons[0]["pao_dlq_reason"]
        assert reasons[0]["ce_id"] == "bad-1", "original headers are kept"
        assert dead[0].value == b"{broken", "original body is kept byte for byte"
        assert "missing CloudEvents header" in reasons[1]["pao_dlq_reason"]
        assert "handler cannot cope" in reasons[2]["pao_dlq_reason"]
        assert json.loads(dead[2].value)["reason"] == "explode"
        for r in reasons:
            assert r["pao_dlq_source_topic"] == topics.request_commands
            assert r["pao_dlq_source_partition"].isdigit() and r["pao_dlq_source_offset"].isdigit()
    finally:
        await broker.stop()


async def test_ignored_types_are_passed_over_unparsed(settings: Settings) -> None:
    topics = Topics(settings.topic_suffix)
    await ensure_topics(settings.kafka_bootstrap, topics.core(), partitions=1)
    broker = create_broker(settings, client_id="ignore-test")
    handled: list[Message] = []

    async def handler(message: Message, event: CloudEvent) -> None:
        handled.append(message)

    subscribe(
        broker,
        {topics.request_commands: (CancelRequest, ApproveRequest)},
        handler,
        group_id="ignore-test",
        dlq=DeadLetterPublisher(broker, topics.dlq, source="ignore-test"),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        ignored=(ApproveRequest,),
    )
    await broker.start()
    try:
        # A broken body of an ignored type: never parsed, so never dead-lettered.
        approve = ce_headers("ignored-1", ApproveRequest.ce_type)
        await produce(
            settings.kafka_bootstrap,
            topics.request_commands,
            b"{broken",
            key=b"r-1",
            headers=approve,
        )
        cancel = ce_headers("broken-2", CancelRequest.ce_type)
        await produce(
            settings.kafka_bootstrap,
            topics.request_commands,
            b"{broken",
            key=b"r-1",
            headers=cancel,
        )
        good = to_cloudevent(
            CancelRequest(request_id="r-1", by=Requester(id="alice"), reason="ok"),
            source="t",
            subject="r-1",
        )
        await publish_event(broker, topics.request_commands, good)

        await wait_for(lambda: len(handled) == 1)
        assert isinstance(handled[0], CancelRequest)
        [dead] = await consume(settings.kafka_bootstrap, topics.dlq, count=1)
        assert dict(dead.headers)["ce_id"] == b"broken-2", "the ignored message was not parsed"
    finally:
        await broker.stop()

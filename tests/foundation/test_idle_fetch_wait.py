"""An idle consumer lengthens its fetch wait, and shortens it again at the first record.

The bundled broker answers every fetch only when its wait is up, so a consumer at 5 ms
polls it 200 times a second even with nothing to read (issue #16: an idle ``pao dev``
took a core). Production (Apache Kafka, which long-polls) keeps one wait.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer
from pao_common.cloudevents import CloudEvent
from pao_common.dlq import DeadLetterPublisher
from pao_common.kafka import (
    IdleFetchWait,
    adapt_fetch_waits,
    create_broker,
    ensure_topics,
    publish_event,
    subscribe,
)
from pao_common.messages import CancelRequest, Message, Requester, to_cloudevent
from pao_common.settings import Profile, Settings
from pao_common.topics import Topics

from tests.support.kafka import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_grows_after_idle_and_drops_at_the_first_record() -> None:
    clock = Clock()
    wait = IdleFetchWait(5, 200, idle_after_s=1.0, clock=clock)
    clock.now = 0.5
    assert wait.fetched(False) == 5, "not idle long enough yet"
    clock.now = 1.0
    assert [wait.fetched(False) for _ in range(7)] == [10, 20, 40, 80, 160, 200, 200]
    assert wait.fetched(True) == 5, "the first record brings the short wait back"
    clock.now = 1.5
    assert wait.fetched(False) == 5, "idle counts from the last record"
    clock.now = 2.0
    assert wait.fetched(False) == 10


def test_one_wait_when_idle_is_not_longer() -> None:
    wait = IdleFetchWait(500, 500)
    assert not wait.adaptive
    assert [wait.fetched(False) for _ in range(3)] == [500, 500, 500]
    assert IdleFetchWait(500, 100).idle_ms == 500


def test_production_keeps_kafkas_wait_and_local_profiles_lengthen_it() -> None:
    production = Settings(profile=Profile.PRODUCTION)
    assert production.idle_fetch_max_wait_ms == production.fetch_max_wait_ms == 500
    local = Settings(profile=Profile.LOCAL)
    assert local.fetch_max_wait_ms == 5 and local.idle_fetch_max_wait_ms == 400
    assert Settings(profile=Profile.TEST).idle_fetch_max_wait_ms == 200
    never = Settings(profile=Profile.TEST, kafka_idle_fetch_max_wait_ms=0)
    assert never.idle_fetch_max_wait_ms == 5
    assert Settings(kafka_fetch_max_wait_ms=500).idle_fetch_max_wait_ms == 500


@pytest.mark.integration
async def test_a_subscribed_consumer_backs_off_while_idle_and_answers_the_next_record(
    settings: Settings,
) -> None:
    topics = Topics(settings.topic_suffix)
    await ensure_topics(settings.kafka_bootstrap, topics.core(), partitions=2)
    broker = create_broker(settings, client_id="idle-test")
    consumers: list[AIOKafkaConsumer] = []

    def fetch_wait() -> int:
        """The wait aiokafka puts in its next fetch request."""
        wait: int = consumers[0]._fetcher._fetch_max_wait_ms
        return wait

    handled: list[Message] = []
    waits_when_handled: list[int] = []

    async def handler(message: Message, event: CloudEvent) -> None:
        handled.append(message)
        waits_when_handled.append(fetch_wait())

    subscribe(
        broker,
        {topics.request_commands: (CancelRequest,)},
        handler,
        group_id=f"idle-test{settings.topic_suffix}",
        dlq=DeadLetterPublisher(broker, topics.dlq, source="idle-test"),
        fetch_max_wait_ms=5,
        idle_fetch_max_wait_ms=200,
        session_timeout_ms=settings.session_timeout_ms,
    )
    await broker.start()
    try:
        assert adapt_fetch_waits(broker) == 1
        [subscriber] = broker.subscribers
        consumer = subscriber.consumer  # type: ignore[attr-defined]
        assert isinstance(consumer, AIOKafkaConsumer)
        consumers.append(consumer)
        await wait_for(lambda: fetch_wait() == 200)
        cancel = CancelRequest(request_id="r-1", by=Requester(id="alice"), reason="idle")
        event = to_cloudevent(cancel, source="t", subject="r-1")
        await publish_event(broker, topics.request_commands, event)
        await wait_for(lambda: len(handled) == 1)
        assert handled == [cancel]
        assert waits_when_handled == [5], "the fetch that brought it set the short wait back"
        await wait_for(lambda: fetch_wait() == 200)
    finally:
        await broker.stop()

"""Kafka wiring: the FastStream broker factory, topic creation and safe subscribers.

``subscribe`` is the one way PAO services consume: it turns the record into a
``CloudEvent`` and the contract model, hands it to the handler, and sends what
cannot be parsed or handled to the dead-letter topic with the reason, so a bad
message never stops a consumer (a handler that refuses a message raises
``MessageRefused`` with its reason). Infrastructure outages (database, broker) are
not the message's fault: those are retried with backoff and the offset is only
committed after the handler returned (in the background, a few times a second, not
one broker round trip per message: see ``OffsetCommitter``). A consumer that gets
nothing for a while polls less (``IdleFetchWait``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.publisher.state import RealProducer
from opentelemetry.trace import SpanKind

from pao_common.cloudevents import CloudEvent, decode_headers, from_kafka
from pao_common.consumer_lag import CONSUMER_LAG
from pao_common.dlq import DeadLetterPublisher
from pao_common.errors import InvalidMessage, MessageRefused
from pao_common.kafka_security import PLAINTEXT, KafkaSecurity, kafka_security
from pao_common.logs import bind_context
from pao_common.messages import Message, parse_message
from pao_common.settings import Settings
from pao_common.telemetry import current_traceparent, message_attributes, message_span

log = logging.getLogger(__name__)

Handler = Callable[[Message, CloudEvent], Awaitable[None]]

# How long a batch subscriber's ``getmany`` waits when nothing was fetched yet (FastStream
# then sleeps as long again), so an idle batch subscriber costs a few rounds a second: the
# idle gateway with its two fan-out consumers took 1.6% of a core at 20 ms, 1.0% at 100 ms
# (their busy fetch wait: a record waits at most one more fetch), 0.8% before batching.
BATCH_TIMEOUT_MS = 100

# Errors that say "the world is down", not "this message is bad".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    KafkaError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def create_broker(settings: Settings, *, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker with the profile's client settings and the process's
    TLS / SASL settings (``kafka_security``: a bad combination fails here, at start).

    No idempotent producer and no transactions: the bundled dev broker supports
    neither, and PAO's exactly-once comes from the event store, not from Kafka.
    """
    return KafkaBroker(
        settings.kafka_bootstrap,
        **kafka_security(settings).broker_kwargs(),
        client_id=f"{settings.kafka_client_id}-{client_id}",
        enable_idempotence=False,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=10_000,
        retry_backoff_ms=200,
        logger=logging.getLogger(f"pao.kafka.{client_id}"),
        log_level=logging.DEBUG,
        graceful_timeout=10.0,
        # ``subscribe`` parses and validates messages itself: no dependency injection
        # (and no per-message pydantic pass over the raw body) in between.
        apply_types=False,
    )


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int,
    security: KafkaSecurity = PLAINTEXT,
    timeout_s: float = 10.0,
) -> list[str]:
    """Create the missing topics; return the names that were created.

    Product code passes ``security=kafka_security(settings)`` (a test in
    tests/foundation/test_kafka_security.py fails on a call that does not)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        **security.client_kwargs(),
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        created: list[str] = []
        for name in missing:
            try:
                await admin.create_topics([NewTopic(name, partitions, 1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        await admin.close()


class BrokerEpoch:
    """Notices that the broker lost its data (the bundled dev broker keeps it in memory).

    Its restart takes ~50 ms, too quick for a health check to see an outage, so the
    broker is asked whether it still holds a mark this process left: an offset
    committed for a consumer group of this process alone (on partition 0 of ``topic``;
    the consumer is never subscribed and fetches nothing). A broker that forgot the
    mark forgot every offset, topic and record.
    """

    def __init__(
        self, bootstrap: str, topic: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT
    ) -> None:
        self._partition = TopicPartition(topic, 0)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            **security.client_kwargs(),
            group_id=f"pao-epoch-{client_id}-{uuid.uuid4().hex[:12]}",
            enable_auto_commit=False,
            request_timeout_ms=5_000,
        )

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign([self._partition])
        self._consumer.pause(self._partition)
        await self.mark()

    async def mark(self) -> None:
        """Leave the mark (again, once the topic is back after a loss)."""
        await self._consumer.commit({self._partition: OffsetAndMetadata(0, "epoch")})

    async def lost(self) -> bool:
        """True when the broker no longer holds the mark."""
        return await self._consumer.committed(self._partition) is None

    async def stop(self) -> None:
        await self._consumer.stop()


class OffsetCommitter:
    """Commits the offsets of handled messages, every ``interval_s``, in the background.

    ``handled(message)`` is called once the handler returned, so an offset is never
    committed before its message was handled (at least once, never at most once). A
    commit the broker refuses (the partition moved to another member in a rebalance)
    is dropped: the new owner gets those messages again, and every PAO handler is
    idempotent on the message id. ``stop`` commits what is left.
    """

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._pending: dict[AIOKafkaConsumer, dict[TopicPartition, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def handled(self, consumer: AIOKafkaConsumer | None, record: ConsumerRecord[Any, Any]) -> None:
        if not isinstance(consumer, AIOKafkaConsumer):
            return
        offsets = self._pending.setdefault(consumer, {})
        offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for consumer, offsets in pending.items():
            try:
                await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
            except Exception as exc:  # rebalanced, stopped or unreachable: redelivered later
                log.debug("offset commit of %s dropped: %r", sorted(offsets), exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()


class IdleFetchWait:
    """The fetch wait of one consumer: ``busy_ms`` while records come; after
    ``idle_after_s`` without one it doubles with every empty fetch up to ``idle_ms``, and
    the first fetch that brings a record sets it back to ``busy_ms``.

    For brokers that answer a fetch only when its wait is up (the bundled one): an idle
    consumer then polls a few times a second instead of hundreds, and a record arriving
    after idle waits at most ``idle_ms`` at that hop. Apache Kafka answers as soon as a
    record is there, so production keeps one wait (``busy_ms == idle_ms``: nothing
    changes).

    aiokafka reads the wait from its fetcher for every fetch request it builds; ``attach``
    wraps the fetcher's handling of a fetch response (aiokafka 0.14's
    ``Fetcher._proc_fetch_request``, whose result says whether records came) to set it.
    """

    def __init__(
        self,
        busy_ms: int,
        idle_ms: int,
        *,
        idle_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy_ms = busy_ms
        self.idle_ms = max(busy_ms, idle_ms)
        self.idle_after_s = idle_after_s
        self._clock = clock
        self._last_record = clock()
        self.wait_ms = busy_ms

    @property
    def adaptive(self) -> bool:
        return self.idle_ms > self.busy_ms

    def fetched(self, got_records: bool) -> int:
        """The wait of the next fetch, after one that brought records or not."""
        now = self._clock()
        if got_records:
            self._last_record = now
            self.wait_ms = self.busy_ms
        elif now - self._last_record >= self.idle_after_s:
            self.wait_ms = min(self.idle_ms, max(self.wait_ms * 2, 1))
        return self.wait_ms

    def attach(self, consumer: AIOKafkaConsumer) -> bool:
        """Steer ``consumer``'s fetch wait from now on; False when this aiokafka has not
        the fetcher this was written against (the wait then stays ``busy_ms``)."""
        if not self.adaptive:
            return False
        fetcher = getattr(consumer, "_fetcher", None)
        process = getattr(fetcher, "_proc_fetch_request", None)
        if fetcher is None or process is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
            log.warning("aiokafka's fetcher changed: fetch waits stay %d ms", self.busy_ms)
            return False
        self._last_record = self._clock()
        self.wait_ms = self.busy_ms

        async def proc_fetch_request(*args: Any, **kwargs: Any) -> Any:
            got_records = await process(*args, **kwargs)
            fetcher._fetch_max_wait_ms = self.fetched(bool(got_records))
            return got_records

        fetcher._proc_fetch_request = proc_fetch_request
        return True


# The idle fetch wait of each ``subscribe``d subscriber, attached to its consumer once the
# broker started it (``adapt_fetch_waits``).
_IDLE_FETCH_WAITS: weakref.WeakKeyDictionary[object, tuple[int, int]] = weakref.WeakKeyDictionary()


def adapt_fetch_waits(broker: KafkaBroker) -> int:
    """Give every started consumer of ``broker`` that ``subscribe`` made its
    ``IdleFetchWait``; return how many now adapt. Call it after ``broker.start()``."""
    attached = 0
    for subscriber in broker.subscribers:
        waits = _IDLE_FETCH_WAITS.get(subscriber)
        consumer = getattr(subscriber, "consumer", None)
        if waits is None or not isinstance(consumer, AIOKafkaConsumer):
            continue
        attached += IdleFetchWait(*waits).attach(consumer)
    return attached


# A record and the consumer that fetched it (whose offsets it moves once handled).
_Queued = tuple[ConsumerRecord[Any, Any], object]


class PartitionWorkers:
    """One consumer, its partitions handled side by side, each partition in order.

    The consumer hands every record to the queue of its partition and fetches on; a task
    per partition handles that queue in order (one request's messages share a key, hence
    a partition, so they are never reordered) and tells the committer. A full queue
    (``depth``) holds the consumer back. One consumer per topic per process, rather than
    one per partition: fewer group members, and far fewer fetches against a broker that
    answers every fetch only when ``fetch_max_wait_ms`` is up (the bundled one).
    """

    running: set[PartitionWorkers] = set()

    def __init__(
        self,
        handle: Callable[[ConsumerRecord[Any, Any]], Awaitable[None]],
        committer: OffsetCommitter,
        depth: int = 64,
        group: str = "",
    ) -> None:
        self._handle = handle
        self._group = group
        self._committer = committer
        self._depth = depth
        self._queues: dict[tuple[str, int], asyncio.Queue[_Queued]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def put(self, record: ConsumerRecord[Any, Any], consumer: object) -> None:
        key = (record.topic, record.partition)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue(self._depth)
            self._tasks.append(asyncio.get_running_loop().create_task(self._work(queue)))
            PartitionWorkers.running.add(self)
        await queue.put((record, consumer))

    async def _work(self, queue: asyncio.Queue[_Queued]) -> None:
        while True:
            record, consumer = await queue.get()
            try:
                await self._handle(record)
            except Exception:  # ``handle`` dead-letters; this is a bug, not a message fault
                log.exception("message not handled: %s", record)
                continue
            if isinstance(consumer, AIOKafkaConsumer):
                self._committer.handled(consumer, record)
                CONSUMER_LAG.handled(self._group, consumer, record)

    async def stop(self) -> None:
        """Stop handling (what is queued comes again from the last commit), commit."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()
        await self._committer.stop()
        CONSUMER_LAG.forget(self._group)
        PartitionWorkers.running.discard(self)


async def stop_consuming() -> None:
    """Stop every ``subscribe``d handler and commit what was handled: call it before the
    broker stops its consumers."""
    for workers in list(PartitionWorkers.running):
        await workers.stop()


async def _raw_decoder(msg: KafkaMessage) -> Any:
    # The body is parsed by ``subscribe`` itself, so a broken body reaches us intact.
    return msg.body


def _to_workers(
    broker: KafkaBroker, workers: PartitionWorkers, *, batch: bool
) -> Callable[[Any], Awaitable[None]]:
    """The FastStream handler that queues what it was given on ``workers``."""

    async def consume(_: Any) -> None:
        # Without dependency injection (``apply_types=False``) a handler gets the decoded
        # body only; the record (a tuple of them in a batch) is in FastStream's context.
        msg: KafkaMessage = broker.context.get_local("message")
        consumer = getattr(msg, "consumer", None)
        for record in msg.raw_message if batch else (msg.raw_message,):
            await workers.put(record, consumer)

    return consume


def subscribe(
    broker: KafkaBroker,
    topics: Mapping[str, tuple[type[Message], ...]],
    handler: Handler | Mapping[str, Handler],
    *,
    group_id: str,
    dlq: DeadLetterPublisher,
    fetch_max_wait_ms: int,
    idle_fetch_max_wait_ms: int | None = None,
    session_timeout_ms: int | None = None,
    auto_offset_reset: str = "earliest",
    transient_retry_s: float = 1.0,
    commit_interval_s: float = 0.2,
    wanted: Callable[[str | None], bool] | None = None,
    ignored: tuple[type[Message], ...] = (),
    batch: bool = False,
) -> None:
    """Consume ``topics`` (each with the message types it may carry) in ``group_id``:
    parse, call ``handler``, dead-letter what fails.

    One consumer of the group per process for all of ``topics`` (every consumer polls the
    broker on its own), ``handler`` the same for all of them or one per topic (a mapping
    of topic to handler); its partitions are handled concurrently, each in order
    (``PartitionWorkers``), and offsets are committed once handled (``OffsetCommitter``).

    ``wanted(subject)``, when given, is asked first with the record's ``ce_subject``
    header: a record it declines is passed over unparsed (a fan-out consumer skipping
    requests nobody follows on this instance).

    ``ignored`` message types (allowed on a topic, of no use to this handler) are passed
    over by their ``ce_type`` header, before any parsing.

    ``idle_fetch_max_wait_ms`` (``Settings.idle_fetch_max_wait_ms``), when longer than
    ``fetch_max_wait_ms``, is how long the fetch wait grows while nothing comes
    (``IdleFetchWait``, attached by ``adapt_fetch_waits`` once the broker started).

    ``batch``: FastStream hands over everything fetched at once (``getmany``) instead of
    one record at a time, so its per-message pipeline (context, middlewares, logging)
    runs once per fetch. For consumers that pass over most records (a fan-out): each
    record still goes through the same per-partition queue, filter and handler.
    """
    ignored_types = frozenset(m.ce_type for m in ignored)
    if isinstance(handler, Mapping):
        handlers: Mapping[str, Handler] = handler
        if set(handlers) != set(topics):
            raise ValueError(f"handlers for {sorted(handlers)}, topics {sorted(topics)}")
    else:
        handlers = dict.fromkeys(topics, handler)

    async def handle(record: ConsumerRecord[Any, Any]) -> None:
        body: bytes = record.value or b""
        headers = decode_headers(record.headers)
        if headers.get("ce_type") in ignored_types:
            return
        if wanted is not None and not wanted(headers.get("ce_subject")):
            return
        try:
            event = from_kafka(headers, body)
            message = parse_message(event, topics[record.topic])
        except InvalidMessage as exc:
            await dlq.send(record, reason=str(exc), error_type="InvalidMessage")
            return
        with (
            bind_context(request_id=event.subject, message_id=event.id),
            message_span(
                f"{event.type} process",
                event.traceparent,
                kind=SpanKind.CONSUMER,
                attributes=lambda: {
                    "messaging.system": "kafka",
                    "messaging.operation": "process",
                    "messaging.destination.name": record.topic,
                    "messaging.message.id": event.id,
                    "messaging.kafka.consumer.group": group_id,
                    **message_attributes(message, event.subject),
                },
            ),
        ):
            delay = transient_retry_s
            while True:
                try:
                    await handlers[record.topic](message, event)
                    return
                except TRANSIENT_ERRORS as exc:
                    log.warning(
                        "transient failure handling %s, retrying in %.1fs: %r",
                        event.type,
                        delay,
                        exc,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                except MessageRefused as exc:  # the handler said why: no traceback
                    await dlq.send(record, reason=exc.reason, error_type=exc.error_type)
                    return
                except Exception as exc:  # the message's fault: dead-letter it, keep consuming
                    log.exception("handler failed for %s %s", event.type, event.id)
                    await dlq.send(
                        record, reason=f"handler failed: {exc!r}", error_type=type(exc).__name__
                    )
                    return

    workers = PartitionWorkers(handle, OffsetCommitter(commit_interval_s), group=group_id)
    consume = _to_workers(broker, workers, batch=batch)
    names = "_".join(t.replace(".", "_").replace("-", "_") for t in topics)
    consume.__name__ = f"consume_{names}_{group_id}"
    kwargs: dict[str, Any] = {
        "group_id": group_id,
        "auto_offset_reset": auto_offset_reset,
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "ack_policy": AckPolicy.MANUAL,  # the committer commits what was handled
        "decoder": _raw_decoder,
    }
    if session_timeout_ms is not None:
        kwargs["session_timeout_ms"] = session_timeout_ms
        kwargs["heartbeat_interval_ms"] = max(session_timeout_ms // 4, 100)
    if batch:
        # ``getmany`` returns what was fetched at once; it waits this long only when
        # nothing is there (FastStream then sleeps as long again before the next one).
        kwargs.update(batch=True, batch_timeout_ms=BATCH_TIMEOUT_MS)
    subscriber = broker.subscriber(*topics, **kwargs)
    subscriber(consume)
    if idle_fetch_max_wait_ms is not None and idle_fetch_max_wait_ms > fetch_max_wait_ms:
        _IDLE_FETCH_WAITS[subscriber] = (fetch_max_wait_ms, idle_fetch_max_wait_ms)


def _headers(event: CloudEvent) -> dict[str, str]:
    """The event's headers; without a ``traceparent`` of its own it carries the current
    trace (the HTTP request or the message being handled)."""
    headers = event.header_map()
    if "traceparent" not in headers and (traceparent := current_traceparent()):
        headers["traceparent"] = traceparent
    return headers


def _record_headers(event: CloudEvent) -> list[tuple[str, bytes]]:
    """The record's headers, as FastStream's ``publish`` writes them (what PAO's messages
    carried before, and ``docs/asyncapi.yaml`` documents): ``content-type`` first, a uuid4
    ``correlation_id`` of the record's own, then the event's headers in their order."""
    headers = {"content-type": b"", "correlation_id": str(uuid.uuid4()).encode()}
    headers.update(event.headers())
    if "traceparent" not in headers and (traceparent := current_traceparent()):
        headers["traceparent"] = traceparent.encode()  # like ``_headers``
    return list(headers.items())


def _producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer ``broker`` holds, or None: not started (FastStream's
    ``publish`` then says so), a test client's fake, broker middlewares to run, or a
    FastStream that holds its producer another way (0.7's, read here, is
    ``config.producer._producer.producer``)."""
    if broker.middlewares:
        return None
    state = getattr(getattr(broker.config, "producer", None), "_producer", None)
    if not isinstance(state, RealProducer):
        return None
    producer = state.producer
    return producer if isinstance(producer, AIOKafkaProducer) else None


async def _send(broker: KafkaBroker, topic: str, event: CloudEvent) -> asyncio.Future[Any]:
    """Hand ``event`` to the producer: the future of its acknowledgement.

    Straight to aiokafka, with the headers FastStream would add (``_record_headers``):
    FastStream's ``publish`` (a command object, codec and middleware chain per message)
    cost about 4 us more per message, and the orchestrator publishes 6 to 8 per request."""
    producer = _producer(broker)
    if producer is None:
        future: asyncio.Future[Any] = await broker.publish(
            event.value(), topic, key=event.key(), headers=_headers(event), no_confirm=True
        )
        return future
    sent: asyncio.Future[Any] = await producer.send(
        topic, value=event.value(), key=event.key(), headers=_record_headers(event)
    )
    return sent


async def publish_event(broker: KafkaBroker, topic: str, event: CloudEvent) -> None:
    """Publish one CloudEvent in binary mode, keyed by its subject; return once the
    broker acknowledged it."""
    await (await _send(broker, topic, event))


async def enqueue_event(broker: KafkaBroker, topic: str, event: CloudEvent) -> asyncio.Future[Any]:
    """Hand one CloudEvent to the producer and return the future of its acknowledgement.

    Events enqueued one after the other keep their order on a partition (the producer
    keeps one request in flight per broker), so a caller may enqueue a whole batch and
    then wait for all of it: one round trip for the batch instead of one per event.
    """
    return await _send(broker, topic, event)

"""The outbox relay: the fast path publishes a commit's messages at once, in order, and
deletes their rows in batches; what it could not publish is left to the sweep."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pao_orchestrator.adapters.memory import InMemoryEventStore, InMemoryOutbox, MemoryDatabase
from pao_orchestrator.ports import Commit, OutboxMessage
from pao_orchestrator.relay import OutboxRelay


def _msg(stream: str, n: int) -> OutboxMessage:
    return OutboxMessage(
        message_id=f"{stream}:{n}", topic="t", key=stream, ce_type="pao.test", body={"n": n}
    )


class CountingOutbox(InMemoryOutbox):
    def __init__(self, db: MemoryDatabase) -> None:
        super().__init__(db)
        self.deletes: list[list[str]] = []

    async def delete(self, message_ids: list[str]) -> None:
        self.deletes.append(list(message_ids))
        await super().delete(message_ids)


class Producer:
    """Hands messages over like ``enqueue_event``: a future per message, acked at once
    unless ``failing``."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failing = False

    async def send(self, message: OutboxMessage) -> asyncio.Future[Any]:
        if self.failing:
            raise ConnectionError("broker unreachable")
        self.sent.append(message.message_id)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.05)  # the first sweep (of an empty outbox) is done
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _commit(store: InMemoryEventStore, relay: OutboxRelay, stream: str) -> None:
    outbox = [_msg(stream, 1), _msg(stream, 2)]
    await store.commit(Commit(stream, 0, message_id=f"{stream}:in", outbox=outbox))
    relay.committed(outbox)


async def test_fast_path_publishes_in_order_and_deletes_in_one_batch() -> None:
    db = MemoryDatabase()
    store, outbox, producer = InMemoryEventStore(db), CountingOutbox(db), Producer()
    relay = OutboxRelay(outbox, producer.send, poll_s=60, forget_after_s=0.2)
    async with running(relay):
        for stream in ("a", "b", "c"):
            await _commit(store, relay, stream)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert producer.sent == ["a:1", "a:2", "b:1", "b:2", "c:1", "c:2"]
        assert outbox.deletes == [], "rows are not deleted one commit at a time"
        await asyncio.sleep(0.3)
        assert outbox.deletes == [["a:1", "a:2", "b:1", "b:2", "c:1", "c:2"]]
        assert await outbox.pending() == 0
        assert db.queued_at == {}


async def test_close_deletes_what_was_published() -> None:
    db = MemoryDatabase()
    store, outbox, producer = InMemoryEventStore(db), CountingOutbox(db), Producer()
    relay = OutboxRelay(outbox, producer.send, forget_after_s=60)
    await _commit(store, relay, "a")
    await relay.close()
    assert producer.sent == ["a:1", "a:2"]
    assert await outbox.pending() == 0


async def test_what_the_fast_path_failed_to_send_is_swept() -> None:
    db = MemoryDatabase()
    store, outbox, producer = InMemoryEventStore(db), CountingOutbox(db), Producer()
    relay = OutboxRelay(outbox, producer.send, poll_s=0.05, sweep_after_s=0.2)
    async with running(relay):
        producer.failing = True
        await _commit(store, relay, "a")
        await asyncio.sleep(0.1)
        assert producer.sent == [] and await outbox.pending() == 2
        producer.failing = False
        for _ in range(40):
            if not await outbox.pending():
                break
            await asyncio.sleep(0.05)
        assert producer.sent == ["a:1", "a:2"]
        assert await outbox.pending() == 0

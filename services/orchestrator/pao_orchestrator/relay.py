"""The outbox relay: publishes committed messages to Kafka, then deletes them.

Fast path: right after a commit, the handler hands the commit's messages over
(``committed``). They are published at once, in commit order (one request's messages in
order, different requests side by side); no query to find them, no lock. Their rows are
deleted in batches: one statement for whatever was published in the last ``forget_after_s``
(or once ``batch`` ids are waiting), not one per commit.

Sweep: every ``poll_s``, rows older than ``sweep_after_s`` are claimed
``FOR UPDATE SKIP LOCKED`` and published. Those are what a replica committed and then
died before publishing, or what the fast path failed to send (broker down). On start,
and after the broker lost its data (``wake``), the sweep takes every row whatever its
age. So a message may go out twice (a sweep racing a very slow fast path, a crash
between publishing and deleting), never zero times; consumers deduplicate on its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter

from pao_orchestrator.ports import Outbox, OutboxMessage

log = logging.getLogger(__name__)

RELAYED = Counter("pao_outbox_published_total", "Outbox messages published")

# Hands one message to the producer; the returned future completes on the broker's ack.
SendOne = Callable[[OutboxMessage], Awaitable["asyncio.Future[Any]"]]


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        send: SendOne,
        *,
        poll_s: float = 1.0,
        sweep_after_s: float = 5.0,
        batch: int = 200,
        forget_after_s: float = 0.1,
    ) -> None:
        self._outbox = outbox
        self._send = send
        self._poll_s = poll_s
        self._sweep_after_s = sweep_after_s
        self._batch = batch
        self._wakeup = asyncio.Event()
        self._fresh: list[OutboxMessage] = []
        self._forget_after_s = forget_after_s
        self._published: list[str] = []  # ids published whose rows are not deleted yet
        self._forget_at: float | None = None
        self._sweep_all = True  # the first sweep takes what an earlier life left behind

    def committed(self, messages: list[OutboxMessage]) -> None:
        """The messages of a commit that just became durable: publish them now."""
        self._fresh.extend(messages)
        self._wakeup.set()

    def wake(self) -> None:
        """Sweep every row now, whatever its age (the broker lost what it had)."""
        self._sweep_all = True
        self._wakeup.set()

    async def publish(self, messages: list[OutboxMessage]) -> None:
        """Enqueue every message in order (one request's messages share a key, hence a
        partition, where the producer keeps their order), then wait for all the acks."""
        deliveries = [await self._send(m) for m in messages]
        await asyncio.gather(*deliveries)
        RELAYED.inc(len(messages))

    async def publish_fresh(self) -> None:
        """Publish what was handed over by ``committed``; its rows are deleted by
        ``forget_published``."""
        loop = asyncio.get_running_loop()
        while self._fresh:
            batch, self._fresh = self._fresh, []
            try:
                await self.publish(batch)
            except Exception as exc:  # the rows stay: the sweep publishes them
                log.warning("publishing %d committed messages failed: %r", len(batch), exc)
                continue
            self._published.extend(m.message_id for m in batch)
            if self._forget_at is None:
                self._forget_at = loop.time() + self._forget_after_s
        if len(self._published) >= self._batch:
            await self.forget_published()

    async def forget_published(self) -> None:
        """Delete the rows of what the fast path published (a row left by a crash before
        this is published again by the sweep: at least once)."""
        ids, self._published, self._forget_at = self._published, [], None
        if ids:
            await self._outbox.delete(ids)

    async def drain(self, min_age_s: float = 0.0) -> int:
        """Publish the rows older than ``min_age_s`` until none is left (as far as this
        relay can claim them); return how many."""
        total = 0
        while True:
            n = await self._outbox.relay(self.publish, self._batch, min_age_s=min_age_s)
            total += n
            if n < self._batch:
                return total

    async def run(self) -> None:
        """Relay forever (a background task); errors are logged and retried."""
        loop = asyncio.get_running_loop()
        delay = 0.2
        next_sweep = loop.time()
        while True:
            try:
                self._wakeup.clear()
                await self.publish_fresh()
                if self._forget_at is not None and loop.time() >= self._forget_at:
                    await self.forget_published()
                if self._sweep_all or loop.time() >= next_sweep:
                    min_age = 0.0 if self._sweep_all else self._sweep_after_s
                    self._sweep_all = False
                    await self.drain(min_age)
                    next_sweep = loop.time() + self._poll_s
                delay = 0.2
                wake_at = min(next_sweep, self._forget_at or next_sweep)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), max(0.0, wake_at - loop.time()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay: %r; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        """Publish what the last commits handed over (the relay task has stopped)."""
        with contextlib.suppress(Exception):
            await self.publish_fresh()
            await self.forget_published()

"""The outbox relay: publishes committed messages to Kafka, then deletes them.

It wakes at once when this process committed (``wake``), when another replica did
(PostgreSQL ``LISTEN pao_outbox``, notified in the commit transaction) and, as a
fallback, every ``poll_s``. Rows are claimed ``FOR UPDATE SKIP LOCKED``, so replicas
share the work without publishing a row twice (except after a crash mid-publish:
then a message goes out twice, and consumers deduplicate on its id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from prometheus_client import Counter

from pao_orchestrator.adapters.postgres import OUTBOX_CHANNEL
from pao_orchestrator.ports import Outbox, OutboxMessage

log = logging.getLogger(__name__)

RELAYED = Counter("pao_outbox_published_total", "Outbox messages published")

SendOne = Callable[[OutboxMessage], Awaitable[Any]]


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        send: SendOne,
        *,
        listen_url: str | None = None,
        poll_s: float = 1.0,
        batch: int = 200,
    ) -> None:
        self._outbox = outbox
        self._send = send
        self._listen_url = listen_url
        self._poll_s = poll_s
        self._batch = batch
        self._wakeup = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def publish(self, messages: list[OutboxMessage]) -> None:
        """One request's messages in order; different requests concurrently."""
        by_key: dict[str | None, list[OutboxMessage]] = defaultdict(list)
        for m in messages:
            by_key[m.key].append(m)

        async def in_order(group: list[OutboxMessage]) -> None:
            for m in group:
                await self._send(m)

        await asyncio.gather(*(in_order(g) for g in by_key.values()))
        RELAYED.inc(len(messages))

    async def drain(self) -> int:
        """Publish until the outbox is empty (as far as this relay can claim)."""
        total = 0
        while True:
            n = await self._outbox.relay(self.publish, self._batch)
            total += n
            if n < self._batch:
                return total

    async def _listen(self) -> None:
        if self._listen_url is None:
            return
        with contextlib.suppress(Exception):
            if self._listener is not None:
                await self._listener.close()
        self._listener = await asyncpg.connect(self._listen_url, timeout=5)
        await self._listener.add_listener(OUTBOX_CHANNEL, lambda *_: self._wakeup.set())

    async def run(self) -> None:
        """Relay forever (a background task); errors are logged and retried."""
        delay = 0.2
        while True:
            try:
                if self._listen_url is not None and (
                    self._listener is None or self._listener.is_closed()
                ):
                    await self._listen()
                self._wakeup.clear()
                await self.drain()
                delay = 0.2
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay: %r; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

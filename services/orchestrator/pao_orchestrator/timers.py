"""The timer poller: fires due durable timers through the handler, like any message.

Any replica may run it; ``TimerStore.claim_due`` leases each due timer to one of them.
Firing = handling ``TimerFired`` with message id ``timer:<timer_id>``, whose commit
deletes the timer, so a timer fires once even when two replicas raced for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from pao_orchestrator.domain.decision import TimerFired
from pao_orchestrator.handler import RequestHandler
from pao_orchestrator.ports import Clock, TimerStore

log = logging.getLogger(__name__)


class TimerPoller:
    def __init__(
        self,
        timers: TimerStore,
        handler: RequestHandler,
        clock: Clock,
        *,
        max_sleep_s: float = 1.0,
        lease_s: float = 30.0,
    ) -> None:
        self._timers = timers
        self._handler = handler
        self._clock = clock
        self._max_sleep_s = max_sleep_s
        self._lease_s = lease_s
        self._wakeup = asyncio.Event()
        self._sleeping_until: datetime | None = None

    def wake(self, due_at: datetime | None = None) -> None:
        """A timer due at ``due_at`` was scheduled here: wake now if it comes due before
        the poller would wake anyway (most do not: a step timeout is minutes away)."""
        until = self._sleeping_until
        if due_at is None or until is None or due_at < until:
            self._wakeup.set()

    async def fire_due(self) -> int:
        """Fire every timer due now; return how many fired."""
        fired = 0
        while True:
            due = await self._timers.claim_due(self._clock.now(), 100, self._lease_s)
            for timer in due:
                message = TimerFired.model_validate(timer.payload)
                await self._handler.handle(message, f"timer:{timer.timer_id}")
                fired += 1
            if len(due) < 100:
                return fired

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                self._wakeup.clear()
                await self.fire_due()
                next_due = await self._timers.next_due()
                sleep = self._max_sleep_s
                if next_due is not None:
                    until = (next_due - self._clock.now()).total_seconds()
                    sleep = max(0.0, min(sleep, until))
                delay = 0.2
                self._sleeping_until = self._clock.now() + timedelta(seconds=sleep)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), sleep)
                self._sleeping_until = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("timer poller: %r; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

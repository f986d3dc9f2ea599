"""The timer poller: fires due durable timers through the handler, like any message.

Any replica may run it; ``TimerStore.claim_due`` leases each due timer to one of them.
Firing = handling ``TimerFired`` with message id ``timer:<timer_id>``, whose commit
deletes the timer, so a timer fires once even when two replicas raced for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

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

    def wake(self) -> None:
        """A timer was scheduled here: recompute when to wake."""
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), sleep)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("timer poller: %r; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

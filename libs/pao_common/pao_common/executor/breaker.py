"""A circuit breaker per target host: stop hammering a system that is down.

After ``failure_threshold`` consecutive failures the circuit opens and every call
fails fast with a retryable ``CircuitOpen``, so the orchestrator's retry policy
backs off instead of each attempt waiting for a timeout. After
``reset_timeout_s`` one call is let through (half-open): its success closes the
circuit, its failure opens it again. A non-retryable ``ActionError`` (the target
answered "no") counts as the target being up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from pao_common.errors import ActionError, CircuitOpen
from pao_common.executor.metrics import CIRCUIT_STATE

State = Literal["closed", "half_open", "open"]
_GAUGE = {"closed": 0, "half_open": 1, "open": 2}


class CircuitBreaker:
    """``async with breaker:`` around each call to ``target``."""

    def __init__(
        self,
        target: str,
        *,
        executor: str = "",
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.target = target
        self.executor = executor
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self.state: State = "closed"
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._publish()

    def _publish(self) -> None:
        CIRCUIT_STATE.labels(self.executor, self.target).set(_GAUGE[self.state])

    def _move(self, state: State) -> None:
        if state != self.state:
            self.state = state
            self._publish()

    async def __aenter__(self) -> CircuitBreaker:
        if self.state == "open":
            waited = self._clock() - self._opened_at
            if waited < self.reset_timeout_s:
                raise CircuitOpen(
                    f"circuit for {self.target} is open after {self.failures} consecutive "
                    f"failures; retry in {self.reset_timeout_s - waited:.0f}s"
                )
            self._move("half_open")
        if self.state == "half_open":
            if self._probing:
                raise CircuitOpen(f"circuit for {self.target} is half-open: a probe is running")
            self._probing = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._probing = False
        target_up = exc is None or (isinstance(exc, ActionError) and not exc.retryable)
        if target_up:
            self.failures = 0
            self._move("closed")
            return
        if isinstance(exc, CircuitOpen):
            return
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._move("open")


class CircuitBreakers:
    """The breakers of one executor, one per target, created on first use."""

    def __init__(
        self,
        executor: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.executor = executor
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, target: str) -> CircuitBreaker:
        breaker = self._breakers.get(target)
        if breaker is None:
            breaker = self._breakers[target] = CircuitBreaker(
                target,
                executor=self.executor,
                failure_threshold=self.failure_threshold,
                reset_timeout_s=self.reset_timeout_s,
                clock=self._clock,
            )
        return breaker

"""The circuit breaker opens after N failures, fails fast, probes once, and closes again."""

from __future__ import annotations

from typing import Any

import pytest
from pao_common.errors import ActionError, CircuitOpen
from pao_common.executor import ActionContext, CircuitBreaker, Executor
from pao_common.executor.breaker import State
from pao_common.executor.testing import ExecutorHarness
from pao_common.messages import ActionFailed, ActionSucceeded
from prometheus_client import REGISTRY
from pydantic import BaseModel


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> State:
    """The breaker's state now (a call, so no earlier comparison narrows it for mypy)."""
    return breaker.state


async def fail(breaker: CircuitBreaker, exc: Exception) -> None:
    with pytest.raises(type(exc)):
        async with breaker:
            raise exc


async def test_opens_after_threshold_then_half_open_probe_closes_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "api.test", executor="t", failure_threshold=3, reset_timeout_s=30, clock=clock
    )
    for _ in range(2):
        await fail(breaker, ConnectionError("down"))
    assert state(breaker) == "closed"
    await fail(breaker, ActionError("503", retryable=True))
    assert state(breaker) == "open"
    assert (
        REGISTRY.get_sample_value(
            "pao_executor_circuit_state", {"executor": "t", "target": "api.test"}
        )
        == 2
    )
    with pytest.raises(CircuitOpen) as caught:
        async with breaker:
            raise AssertionError("must not be called while open")
    assert caught.value.retryable and "api.test" in str(caught.value)

    clock.now = 31
    async with breaker:
        assert state(breaker) == "half_open"
        with pytest.raises(CircuitOpen, match="probe is running"):
            async with breaker:
                pass
    assert state(breaker) == "closed" and breaker.failures == 0


async def test_failed_probe_opens_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker("h", failure_threshold=1, reset_timeout_s=10, clock=clock)
    await fail(breaker, OSError("refused"))
    clock.now = 11
    await fail(breaker, OSError("still refused"))
    assert state(breaker) == "open"
    with pytest.raises(CircuitOpen):
        async with breaker:
            pass


async def test_a_no_from_the_target_means_it_is_up() -> None:
    breaker = CircuitBreaker("h", failure_threshold=2)
    await fail(breaker, OSError("refused"))
    await fail(breaker, ActionError("409 conflict", retryable=False))
    await fail(breaker, OSError("refused"))
    assert state(breaker) == "closed", "the 409 reset the count"


class Target(BaseModel):
    host: str
    up: bool


async def test_actions_fail_fast_through_ctx_circuit() -> None:
    executor = Executor("web", circuit_failure_threshold=2, circuit_reset_timeout_s=3600)
    calls: list[str] = []

    @executor.action("web.call", inputs=Target)
    async def call(inputs: Target, ctx: ActionContext) -> dict[str, Any]:
        async with ctx.circuit(inputs.host):
            calls.append(inputs.host)
            if not inputs.up:
                raise ActionError(f"{inputs.host} unreachable", retryable=True)
            return {"ok": True}

    harness = ExecutorHarness(executor)
    for _ in range(2):
        await harness.execute("web.call", {"host": "down.test", "up": False})
    fast = await harness.execute("web.call", {"host": "down.test", "up": False})
    assert isinstance(fast, ActionFailed)
    assert fast.error_type == "CircuitOpen" and fast.retryable
    assert calls == ["down.test", "down.test"], "the third call never reached the target"
    other = await harness.execute("web.call", {"host": "up.test", "up": True})
    assert isinstance(other, ActionSucceeded), "one breaker per target"

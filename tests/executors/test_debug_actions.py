"""The debug executor's actions, failure patterns and compensations (in-process)."""

from __future__ import annotations

import pytest
from pao_common.executor.testing import ExecutorHarness, execute_command
from pao_common.messages import ActionFailed, ActionProgress, ActionSucceeded
from pao_executors.debug import build_executor
from pao_executors.debug.side_effects import InMemorySideEffectLog
from pao_executors.registry import EXECUTOR_SERVICES


@pytest.fixture
def effects() -> InMemorySideEffectLog:
    return InMemorySideEffectLog()


@pytest.fixture
def harness(effects: InMemorySideEffectLog) -> ExecutorHarness:
    return ExecutorHarness(build_executor(effects))


def test_pao_dev_starts_the_debug_executor() -> None:
    assert EXECUTOR_SERVICES["debug"] == "pao_executors.debug"


async def test_log_returns_message_and_time_and_records_one_effect(
    harness: ExecutorHarness, effects: InMemorySideEffectLog
) -> None:
    result = await harness.execute(
        "debug.log", {"message": "hello", "outputs": {"extra": 1}}, step_id="greet"
    )
    assert isinstance(result, ActionSucceeded)
    assert result.outputs["message"] == "hello" and result.outputs["extra"] == 1
    assert result.outputs["logged_at"] == effects.effects[0].at.isoformat()
    [effect] = effects.effects
    assert (effect.command_id, effect.step_id, effect.kind, effect.action_type) == (
        result.command_id,
        "greet",
        "execute",
        "debug.log",
    )


async def test_wait_reports_progress_to_100(harness: ExecutorHarness) -> None:
    command = execute_command("debug.wait", {"seconds": 0.2, "progress_every_s": 0.05})
    result = await harness.run(command)
    assert isinstance(result, ActionSucceeded) and result.outputs["waited_s"] >= 0.2
    progress = [m for m in harness.results_for(command.command_id) if isinstance(m, ActionProgress)]
    assert len(progress) >= 2
    percents = [p.percent for p in progress if p.percent is not None]
    assert len(percents) == len(progress), "every progress report carries its percent"
    assert percents == sorted(percents) and percents[-1] == 100.0


async def test_fail_first_n_attempts_then_succeed(
    harness: ExecutorHarness, effects: InMemorySideEffectLog
) -> None:
    inputs = {"times": 2, "retryable": True, "message": "flaky", "outputs": {"id": 7}}
    results = [await harness.execute("debug.fail", inputs, attempt=n) for n in (1, 2, 3)]
    assert [type(r) for r in results] == [ActionFailed, ActionFailed, ActionSucceeded]
    first = results[0]
    assert isinstance(first, ActionFailed)
    assert first.retryable and first.error == "flaky (attempt 1)"
    assert results[2].outputs == {"attempt": 3, "id": 7}
    assert [e.attempt for e in effects.effects] == [1, 2, 3]


async def test_fail_patterns(harness: ExecutorHarness) -> None:
    always = await harness.execute("debug.fail", {}, attempt=5)
    assert isinstance(always, ActionFailed) and not always.retryable
    crash = await harness.execute("debug.fail", {"pattern": "SX"}, attempt=2)
    assert isinstance(crash, ActionFailed) and crash.error_type == "RuntimeError"
    hang = await harness.execute("debug.fail", {"pattern": "H"}, timeout_s=0.05)
    assert isinstance(hang, ActionFailed) and hang.error_type == "ActionTimeout"
    both = await harness.execute("debug.fail", {"pattern": "S", "fail_attempts": 1})
    assert isinstance(both, ActionFailed) and both.error_type == "InvalidActionInputs"
    bad = await harness.execute("debug.fail", {"pattern": "FQ"})
    assert isinstance(bad, ActionFailed) and bad.details["fields"][0]["field"] == "pattern"


@pytest.mark.parametrize("action_type", ["debug.log", "debug.wait", "debug.fail"])
async def test_every_action_has_a_compensation(
    action_type: str, harness: ExecutorHarness, effects: InMemorySideEffectLog
) -> None:
    result = await harness.compensate(action_type, {"message": "step inputs"}, {"out": 1})
    assert isinstance(result, ActionSucceeded) and result.compensation
    assert result.outputs == {"compensated": action_type, "undone_outputs": {"out": 1}}
    assert [(e.kind, e.action_type) for e in effects.effects] == [("compensate", action_type)]


async def test_compensation_can_be_told_to_fail(harness: ExecutorHarness) -> None:
    result = await harness.compensate(
        "debug.log", {"fail_compensation": True, "compensation_retryable": True}
    )
    assert isinstance(result, ActionFailed) and result.compensation and result.retryable

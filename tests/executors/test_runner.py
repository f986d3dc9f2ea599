"""The SDK's runner: validation, timeouts, failures, dedup and compensation, in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pao_common.errors import ActionError
from pao_common.executor import ActionContext, Executor, InMemoryDedupStore
from pao_common.executor.runner import STARTED_AFTER_S
from pao_common.executor.testing import ExecutorHarness, compensate_command, execute_command
from pao_common.messages import (
    ActionFailed,
    ActionProgress,
    ActionStarted,
    ActionSucceeded,
)
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field


class Greet(BaseModel):
    name: str = Field(min_length=1)
    times: int = Field(1, ge=1, le=3)


class Behaviour(BaseModel):
    error: str | None = None
    retryable: bool = False
    raise_os_error: bool = False
    crash: bool = False
    sleep_s: float = 0
    bad_outputs: bool = False


def make_executor(calls: list[str], gate: asyncio.Event | None = None) -> Executor:
    executor = Executor("acme")

    @executor.action("acme.greet", inputs=Greet)
    async def greet(inputs: Greet, ctx: ActionContext) -> dict[str, Any]:
        calls.append(f"greet:{ctx.command_id}")
        await ctx.progress("halfway", 50)
        if gate is not None:
            await gate.wait()
        return {"greeting": " ".join([f"hello {inputs.name}"] * inputs.times)}

    @executor.action("acme.behave", inputs=Behaviour)
    async def behave(inputs: Behaviour, ctx: ActionContext) -> Any:
        calls.append(f"behave:{ctx.attempt}")
        await asyncio.sleep(inputs.sleep_s)
        if inputs.error:
            raise ActionError(inputs.error, retryable=inputs.retryable, outputs={"partial": 1})
        if inputs.raise_os_error:
            raise ConnectionRefusedError("target refused the connection")
        if inputs.crash:
            raise KeyError("oops")
        if inputs.bad_outputs:
            return {"when": object()}
        return None

    @executor.compensate("acme.greet")
    async def ungreet(inputs: Greet, ctx: ActionContext) -> dict[str, Any]:
        calls.append(f"ungreet:{ctx.outputs.get('greeting')}")
        return {"undone": True}

    return executor


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_success_reports_started_progress_and_outputs() -> None:
    calls: list[str] = []
    harness = ExecutorHarness(make_executor(calls))
    command = execute_command("acme.greet", {"name": "ada", "times": 2}, attempt=3)
    result = await harness.run(command)
    assert isinstance(result, ActionSucceeded)
    assert result.outputs == {"greeting": "hello ada hello ada"}
    assert (result.attempt, result.action_type, result.compensation) == (3, "acme.greet", False)
    kinds = [type(m) for m in harness.results_for(command.command_id)]
    assert kinds == [ActionStarted, ActionProgress, ActionSucceeded]
    progress = harness.results_for(command.command_id)[1]
    assert isinstance(progress, ActionProgress)
    assert (progress.message, progress.percent) == ("halfway", 50)
    assert all(e.subject == command.request_id for e in harness.events), "keyed by request id"


async def test_only_an_action_still_running_after_a_while_is_reported_started() -> None:
    harness = ExecutorHarness(make_executor([]))
    fast = execute_command("acme.behave", {})
    slow = execute_command("acme.behave", {"sleep_s": STARTED_AFTER_S + 0.2})
    await harness.run(fast)
    await harness.run(slow)
    assert [type(m) for m in harness.results_for(fast.command_id)] == [ActionSucceeded]
    kinds = [type(m) for m in harness.results_for(slow.command_id)]
    assert kinds == [ActionStarted, ActionSucceeded]


async def test_invalid_inputs_fail_without_retry_and_name_the_fields() -> None:
    calls: list[str] = []
    harness = ExecutorHarness(make_executor(calls))
    result = await harness.execute("acme.greet", {"name": "", "times": 9, "extra": 1})
    assert isinstance(result, ActionFailed)
    assert not result.retryable and result.error_type == "InvalidActionInputs"
    fields = {f["field"]: f["message"] for f in result.details["fields"]}
    assert set(fields) == {"name", "times"}
    assert "at least 1 character" in fields["name"]
    assert "name:" in result.error and "times:" in result.error
    assert calls == [], "the handler never ran"


async def test_timeout_is_a_retryable_failure() -> None:
    harness = ExecutorHarness(make_executor([]))
    before = sample(
        "pao_executor_actions_total",
        executor="acme",
        action_type="acme.behave",
        kind="execute",
        outcome="timed_out",
    )
    result = await harness.execute("acme.behave", {"sleep_s": 30}, timeout_s=0.05)
    assert isinstance(result, ActionFailed)
    assert result.retryable and result.error_type == "ActionTimeout"
    assert "within 0.05s" in result.error
    after = sample(
        "pao_executor_actions_total",
        executor="acme",
        action_type="acme.behave",
        kind="execute",
        outcome="timed_out",
    )
    assert after == before + 1


@pytest.mark.parametrize("retryable", [True, False])
async def test_action_error_carries_retryable_and_partial_outputs(retryable: bool) -> None:
    harness = ExecutorHarness(make_executor([]))
    result = await harness.execute("acme.behave", {"error": "quota hit", "retryable": retryable})
    assert isinstance(result, ActionFailed)
    assert (result.error, result.retryable, result.error_type) == (
        "quota hit",
        retryable,
        "ActionError",
    )
    assert result.outputs == {"partial": 1}


async def test_unexpected_exceptions_fail_and_only_network_ones_are_retryable() -> None:
    harness = ExecutorHarness(make_executor([]))
    crash = await harness.execute("acme.behave", {"crash": True})
    assert isinstance(crash, ActionFailed)
    assert (crash.retryable, crash.error_type, crash.error) == (
        False,
        "KeyError",
        "KeyError: 'oops'",
    )
    refused = await harness.execute("acme.behave", {"raise_os_error": True})
    assert isinstance(refused, ActionFailed)
    assert refused.retryable and refused.error_type == "ConnectionRefusedError"


async def test_outputs_must_be_json_and_none_means_empty() -> None:
    harness = ExecutorHarness(make_executor([]))
    bad = await harness.execute("acme.behave", {"bad_outputs": True})
    assert isinstance(bad, ActionFailed) and "not JSON" in bad.error and not bad.retryable
    empty = await harness.execute("acme.behave", {})
    assert isinstance(empty, ActionSucceeded) and empty.outputs == {}


async def test_unknown_action_type_is_answered_not_crashed() -> None:
    harness = ExecutorHarness(make_executor([]))
    result = await harness.execute("acme.nope", {})
    assert isinstance(result, ActionFailed)
    assert result.error_type == "UnknownActionType" and not result.retryable


async def test_completed_command_is_answered_again_not_rerun() -> None:
    calls: list[str] = []
    harness = ExecutorHarness(make_executor(calls))
    command = execute_command("acme.greet", {"name": "ada"})
    first = await harness.run(command)
    second = await harness.run(command)
    assert calls == [f"greet:{command.command_id}"]
    assert first == second
    answers = [
        e
        for e in harness.events
        if e.type == "pao.action.succeeded" and e.data["command_id"] == command.command_id
    ]
    assert len(answers) == 2 and answers[0].id == answers[1].id, "the same event, same id"


async def test_running_command_is_not_started_twice() -> None:
    calls: list[str] = []
    gate = asyncio.Event()
    harness = ExecutorHarness(make_executor(calls, gate))
    command = execute_command("acme.greet", {"name": "ada"})
    await harness.send(command)
    await harness.send(command)
    assert harness.runner.running == [command.command_id]
    gate.set()
    await harness.runner.wait_idle()
    assert calls == [f"greet:{command.command_id}"]
    assert len(harness.answers_for(command.command_id)) == 1


async def test_running_elsewhere_is_not_started_here() -> None:
    """Two instances sharing one store: the second sees the first's live claim."""
    calls: list[str] = []
    gate = asyncio.Event()
    store = InMemoryDedupStore()
    executor = make_executor(calls, gate)
    one = ExecutorHarness(executor, dedup=store)
    two = ExecutorHarness(executor, dedup=store)
    command = execute_command("acme.greet", {"name": "ada"})
    await one.send(command)
    await two.send(command)
    assert two.runner.running == [] and two.events == []
    gate.set()
    await one.runner.wait_idle()
    assert len(calls) == 1


async def test_expired_claim_is_taken_over() -> None:
    now = [0.0]
    store = InMemoryDedupStore(clock=lambda: now[0])
    command = execute_command("acme.greet", {"name": "ada"}, timeout_s=10)
    first = await store.claim(command, executor="acme", owner="a", lease_s=40)
    assert (first.state, first.takeover) == ("claimed", False)
    assert (await store.claim(command, executor="acme", owner="b", lease_s=40)).state == "running"
    now[0] = 41.0
    again = await store.claim(command, executor="acme", owner="b", lease_s=40)
    assert (again.state, again.takeover) == ("claimed", True)


async def test_compensation_gets_step_outputs_and_is_marked() -> None:
    calls: list[str] = []
    harness = ExecutorHarness(make_executor(calls))
    command = compensate_command("acme.greet", {"name": "ada"}, {"greeting": "hello ada"})
    result = await harness.run(command)
    assert isinstance(result, ActionSucceeded)
    assert result.compensation and result.outputs == {"undone": True}
    assert calls == ["ungreet:hello ada"]


async def test_compensation_of_an_action_without_one_runs_that_action() -> None:
    calls: list[str] = []
    harness = ExecutorHarness(make_executor(calls))
    result = await harness.compensate("acme.behave", {"error": "cannot undo", "retryable": True})
    assert isinstance(result, ActionFailed) and result.compensation and result.retryable
    assert calls == ["behave:1"]


async def test_draining_answers_cancelled_actions_with_a_retryable_failure() -> None:
    harness = ExecutorHarness(make_executor([]))
    command = execute_command("acme.behave", {"sleep_s": 60}, timeout_s=120)
    await harness.send(command)
    await harness.runner.drain(timeout_s=0.01)
    [answer] = harness.answers_for(command.command_id)
    assert isinstance(answer, ActionFailed)
    assert answer.retryable and answer.error_type == "ExecutorStopped"


async def test_duration_and_outcome_metrics_per_action() -> None:
    harness = ExecutorHarness(make_executor([]))
    labels = {
        "executor": "acme",
        "action_type": "acme.greet",
        "kind": "execute",
        "outcome": "succeeded",
    }
    count = sample("pao_executor_action_duration_seconds_count", **labels)
    total = sample("pao_executor_actions_total", **labels)
    await harness.execute("acme.greet", {"name": "ada"})
    assert sample("pao_executor_action_duration_seconds_count", **labels) == count + 1
    assert sample("pao_executor_actions_total", **labels) == total + 1

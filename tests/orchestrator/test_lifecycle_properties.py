"""Property: whatever goes wrong after a step succeeded, what ran is rolled back.

Hypothesis draws an automated item (1..4 steps, some with a rollback, some conditional,
inputs that need an earlier step's output, item outputs that may not render, with or
without ``fallback_to_manual``) and then plays the executors: every command in flight
is answered by a drawn success (with or without the output later templates need), a
failure (retryable or not), a timeout, a redelivery of an old answer, or a cancel
arriving meanwhile. The pure ``decide``/``evolve`` loop runs until the request ends or
falls back to manual, and then:

- nothing gets stuck: a request that has not ended always has an attempt out or due;
- a request that did not complete compensated (or tried to) every step that succeeded
  and declares a rollback, last first;
- one that could fall back to manual (the item allows it, no cancel, no rollback that
  failed) did; one that could not, did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pao_catalog_model.model import CatalogItem
from pao_common.messages import ActionFailed, ActionSucceeded, CancelRequest, Message
from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.decision import TimerRequest
from pao_orchestrator.domain.state import TICKET_STEP

from tests.orchestrator.items import ALICE, JIRA, Run, build_item

MAX_STEPS = 4


@dataclass(frozen=True)
class StepPlan:
    compensable: bool
    # ``with`` renders ``steps.<previous>.outputs.value``: fails when that is missing.
    needs_previous_value: bool
    # The rollback renders the step's own ``outputs.value``: fails when it is missing.
    rollback_needs_value: bool
    conditional: bool  # ``when: inputs.backup``
    attempts: int


@dataclass(frozen=True)
class ItemPlan:
    steps: tuple[StepPlan, ...]
    outputs_from: int | None  # item outputs render ``steps.s<k>.outputs.value``
    fallback: bool

    def item(self) -> CatalogItem:
        steps: list[dict[str, Any]] = []
        for i, plan in enumerate(self.steps):
            step: dict[str, Any] = {
                "id": f"s{i}",
                "action": "debug.log",
                "with": {"message": f"run s{i}"},
                "timeout_s": 30,
                "retry": {"attempts": plan.attempts, "backoff_s": 1},
            }
            if plan.needs_previous_value and i > 0:
                step["with"]["previous"] = f"{{{{ steps.s{i - 1}.outputs.value }}}}"
            if plan.conditional:
                step["when"] = "inputs.backup"
            if plan.compensable:
                undo = f"{{{{ steps.s{i}.outputs.value }}}}" if plan.rollback_needs_value else "x"
                step["rollback"] = {"with": {"undo": undo}}
            steps.append(step)
        outputs = {"id": "{{ request.id }}"}
        if self.outputs_from is not None:
            outputs["value"] = f"{{{{ steps.s{self.outputs_from}.outputs.value }}}}"
        fulfillment: dict[str, Any] = {
            "mode": "automated",
            "automated": {"steps": steps, "outputs": outputs, "fallback_to_manual": self.fallback},
        }
        if self.fallback:
            fulfillment["manual"] = JIRA
        return build_item(fulfillment)

    def compensable(self, step_id: str) -> bool:
        return step_id != TICKET_STEP and self.steps[int(step_id[1:])].compensable


step_plans = st.builds(
    StepPlan,
    compensable=st.booleans(),
    needs_previous_value=st.booleans(),
    rollback_needs_value=st.booleans(),
    conditional=st.booleans(),
    attempts=st.integers(1, 3),
)


@st.composite
def item_plans(draw: st.DrawFn) -> ItemPlan:
    steps = tuple(draw(st.lists(step_plans, min_size=1, max_size=MAX_STEPS)))
    outputs_from = draw(st.none() | st.integers(0, len(steps) - 1))
    return ItemPlan(steps=steps, outputs_from=outputs_from, fallback=draw(st.booleans()))


ANSWERS = (
    "succeed",
    "succeed_without_value",
    "fail",
    "fail_retryable",
    "time_out",
    "redeliver",
    "cancel",
)


def _fire(run: Run, timer: TimerRequest) -> None:
    run.now = max(run.now, timer.due_at)
    del run.timers[timer.timer_id]
    run.send(timer.fired)


def _timer(run: Run, kind: str, **match: Any) -> TimerRequest:
    found = [
        t
        for t in run.timers.values()
        if t.fired.kind == kind and all(getattr(t.fired, k) == v for k, v in match.items())
    ]
    assert len(found) == 1, f"expected one {kind} timer for {match}, found {found}"
    return found[0]


def _drive(run: Run, data: st.DataObject) -> None:
    """Answer every command as a drawn executor would, until the request ends."""
    answered: list[ActionSucceeded | ActionFailed] = []
    cancelled = False
    for _ in range(200):
        state = run.state
        if state.is_terminal or state.status == "fallback_to_manual":
            return
        step = state.in_flight()
        assert step is not None, f"stuck: {state.status} with nothing in flight or due"
        choices = [a for a in ANSWERS if not (a == "cancel" and cancelled)]
        if not answered:
            choices.remove("redeliver")
        if step.command_id is None:  # nothing out: a retry is due
            choice = data.draw(st.sampled_from(["retry_due", *(["cancel"] * (not cancelled))]))
        else:
            choice = data.draw(st.sampled_from(choices))
        if choice == "retry_due":
            _fire(run, _timer(run, "retry", step_id=step.id, phase=step.phase))
            continue
        if choice == "cancel":
            cancelled = True
            run.send(CancelRequest(request_id=run.request_id, by=ALICE, reason="changed my mind"))
            continue
        if choice == "redeliver":
            # At-least-once delivery: an answer already handled changes nothing.
            stale = run.send(data.draw(st.sampled_from(answered)))
            assert not stale.events and not stale.commands
            continue
        command = next(c for c in run.commands() if c.command_id == step.command_id)
        ids = {
            "command_id": command.command_id,
            "request_id": command.request_id,
            "step_id": command.step_id,
            "attempt": command.attempt,
        }
        answer: Message
        if choice == "time_out":
            _fire(run, _timer(run, "step_timeout", command_id=command.command_id))
            continue
        if choice == "succeed":
            answer = ActionSucceeded(**ids, outputs={"value": f"v-{command.step_id}"})
        elif choice == "succeed_without_value":
            answer = ActionSucceeded(**ids, outputs={})
        else:
            answer = ActionFailed(**ids, error="boom", retryable=choice == "fail_retryable")
        run.send(answer)
        answered.append(answer)
    raise AssertionError(f"no end after 200 answers: {run.types()}")


def _first_compensations(events: list[ev.DomainEvent]) -> list[str]:
    """Step ids in the order their rollback was first tried (dispatched or failed to render)."""
    order: list[str] = []
    for e in events:
        tried = (isinstance(e, ev.StepDispatched) and e.phase == "compensate") or isinstance(
            e, ev.CompensationFailed
        )
        step_id = getattr(e, "step_id", None)
        if tried and step_id not in order:
            assert step_id is not None
            order.append(step_id)
    return order


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=item_plans(), backup=st.booleans(), data=st.data())
def test_every_failure_after_a_completed_step_rolls_back_and_falls_back(
    plan: ItemPlan, backup: bool, data: st.DataObject
) -> None:
    run = Run(plan.item())
    run.submit({"name": "orders", "backup": backup})
    _drive(run, data)
    state, events = run.state, run.events
    types = run.types()
    succeeded = [
        e.step_id for e in events if isinstance(e, ev.StepSucceeded) and e.step_id != TICKET_STEP
    ]
    must_undo = [s for s in succeeded if plan.compensable(s)]
    cancel_asked = "CancellationRequested" in types or state.status == "cancelled"
    rollback_failed = "CompensationFailed" in types

    if state.status == "completed":
        assert not cancel_asked
        assert all(s.status in ("succeeded", "skipped") for s in state.steps), state.steps
        assert _first_compensations(events) == []
        return
    # Not completed: everything that ran and can be undone was, last first.
    assert _first_compensations(events) == list(reversed(must_undo)), (state.status, types)
    if cancel_asked:
        assert "FallbackToManual" not in types
        if rollback_failed:  # something is left behind: an operator must know
            assert state.status == "failed", types
            assert "needs an operator" in (state.error or "")
        else:
            assert state.status == "cancelled", types
        return
    if plan.fallback and not rollback_failed:
        assert "FallbackToManual" in types, (state.status, state.error, types)
        assert state.status == "fallback_to_manual"
        assert state.error, "the ticket says why automation failed"
        return
    assert "FallbackToManual" not in types
    if rollback_failed:
        assert state.status == "failed"
        assert "needs an operator" in (state.error or "")
    elif must_undo:
        assert state.status == "rolled_back", (state.error, types)
    else:
        assert state.status == "failed", types
    assert state.error

"""How step events change a request: each changes one step (found by its id; an event
for a step the request does not have changes no step)."""

from __future__ import annotations

from typing import Any

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.evolvers import Changes, evolves
from pao_orchestrator.domain.state import RequestState, StepState


def _step(state: RequestState, step_id: str, **changes: Any) -> tuple[StepState, ...]:
    step = state.step(step_id)
    if step is None:
        return state.steps
    return state.replace_step(step.model_copy(update=changes))


@evolves(ev.StepSkipped)
def _skipped(state: RequestState, event: ev.StepSkipped) -> Changes:
    return {"steps": _step(state, event.step_id, status="skipped", finished_at=event.occurred_at)}


@evolves(ev.StepAdded)
def _added(state: RequestState, event: ev.StepAdded) -> Changes:
    return {"steps": (*state.steps, StepState(id=event.step_id, action_type=event.action_type))}


@evolves(ev.StepDispatched)
def _dispatched(state: RequestState, event: ev.StepDispatched) -> Changes:
    if event.phase == "compensate":
        return {
            "steps": _step(
                state,
                event.step_id,
                status="compensating",
                phase="compensate",
                compensation_attempts=event.attempt,
                command_id=event.command_id,
            )
        }
    step = state.step(event.step_id)
    return {
        "steps": _step(
            state,
            event.step_id,
            status="running",
            phase="execute",
            attempts=event.attempt,
            command_id=event.command_id,
            inputs=event.inputs,
            started_at=(step.started_at if step and step.started_at else event.occurred_at),
        )
    }


@evolves(ev.StepSucceeded)
def _succeeded(state: RequestState, event: ev.StepSucceeded) -> Changes:
    return {
        "steps": _step(
            state,
            event.step_id,
            status="succeeded",
            outputs=event.outputs,
            command_id=None,
            error=None,
            finished_at=event.occurred_at,
        )
    }


@evolves(ev.StepFailed)
def _failed(state: RequestState, event: ev.StepFailed) -> Changes:
    return {
        "steps": _step(
            state,
            event.step_id,
            status="failed",
            error=event.error,
            command_id=None,
            finished_at=event.occurred_at,
            **({"outputs": event.outputs} if event.outputs else {}),
        ),
        "error": f"step {event.step_id} failed: {event.error}",
    }


@evolves(ev.StepTimedOut)
def _timed_out(state: RequestState, event: ev.StepTimedOut) -> Changes:
    changes: dict[str, Any] = {
        "command_id": None,
        "error": f"timed out (attempt {event.attempt})",
    }
    ends_the_step = event.final and event.phase == "execute"
    if ends_the_step:
        changes.update(status="timed_out", finished_at=event.occurred_at)
    result: Changes = {"steps": _step(state, event.step_id, **changes)}
    if ends_the_step:
        result["error"] = f"step {event.step_id} timed out after {event.attempt} attempt(s)"
    return result


@evolves(ev.StepRetryScheduled)
def _retry_scheduled(state: RequestState, event: ev.StepRetryScheduled) -> Changes:
    return {"steps": _step(state, event.step_id, command_id=None, error=event.error)}


@evolves(ev.StepCancelled)
def _cancelled(state: RequestState, event: ev.StepCancelled) -> Changes:
    return {
        "steps": _step(
            state, event.step_id, status="cancelled", command_id=None, finished_at=event.occurred_at
        )
    }


@evolves(ev.StepCompensated)
def _compensated(state: RequestState, event: ev.StepCompensated) -> Changes:
    return {
        "steps": _step(
            state,
            event.step_id,
            status="compensated",
            command_id=None,
            finished_at=event.occurred_at,
        )
    }


@evolves(ev.CompensationFailed)
def _compensation_failed(state: RequestState, event: ev.CompensationFailed) -> Changes:
    return {
        "steps": _step(
            state,
            event.step_id,
            status="failed",
            command_id=None,
            error=f"rollback failed: {event.error}",
            finished_at=event.occurred_at,
        ),
        "rollback_failed": True,
    }

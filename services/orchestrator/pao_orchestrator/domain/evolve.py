"""``evolve(state, event) -> state``: how each event changes a request. Pure, total."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.approval_evolve import approval_changes
from pao_orchestrator.domain.change_evolve import freeze_changes
from pao_orchestrator.domain.change_request_evolve import change_request_changes
from pao_orchestrator.domain.resource_events import OperationRequested
from pao_orchestrator.domain.state import (
    RequestState,
    StepState,
    Ticket,
)


def reduce(events: Iterable[ev.DomainEvent], state: RequestState | None = None) -> RequestState:
    """The state after ``events`` (from the empty state unless ``state`` is given)."""
    current = state or RequestState()
    for event in events:
        current = evolve(current, event)
    return current


def _step(state: RequestState, step_id: str, **changes: Any) -> tuple[StepState, ...]:
    step = state.step(step_id)
    if step is None:
        return state.steps
    return state.replace_step(step.model_copy(update=changes))


def evolve(state: RequestState, event: ev.DomainEvent) -> RequestState:
    changes = _apply(state, event)
    changes["version"] = state.version + 1
    changes["updated_at"] = event.occurred_at
    return state.model_copy(update=changes)


def _apply(state: RequestState, event: ev.DomainEvent) -> dict[str, Any]:
    at = event.occurred_at
    match event:
        case ev.RequestSubmitted():
            return {
                "request_id": event.request_id,
                "status": "submitted",
                "item_id": event.item_id,
                "item_version": event.item_version,
                "mode": event.mode,
                "requester": event.requester,
                "inputs": event.inputs,
                "idempotency_key": event.idempotency_key,
                "steps": tuple(StepState(id=s.id, action_type=s.action_type) for s in event.steps),
                "submitted_at": at,
                "change_class": event.change_class,
                "emergency_reason": event.emergency_reason,
            }
        case OperationRequested():
            return {"resource_id": event.resource_id, "operation": event.operation}
        case ev.RequestRejectedInvalid():
            problems = "; ".join(f"{p.field}: {p.message}" for p in event.errors)
            return {"status": "failed", "error": f"invalid request: {problems}", "completed_at": at}
        case (
            ev.ApprovalRequested()
            | ev.ApprovalRefused()
            | ev.ApprovalRecorded()
            | ev.RequestApproved()
            | ev.RequestRejected()
            | ev.ApprovalExpired()
        ):
            return approval_changes(state, event)
        case (
            ev.RequestScheduled()
            | ev.RequestReleased()
            | ev.ChangeEscalated()
            | ev.ChangeDenied()
            | ev.FreezeOverridden()
            | ev.FreezeOverrideRefused()
        ):
            return freeze_changes(state, event)
        case (
            ev.ChangeRequestOpening()
            | ev.ChangeRequestOpened()
            | ev.ChangeRequestCallFailed()
            | ev.ChangeRequestApproved()
            | ev.ChangeRequestRejected()
            | ev.ChangeRequestClosing()
            | ev.ChangeRequestClosed()
        ):
            return change_request_changes(state, event)
        case ev.FulfilmentStarted():
            return {"status": "in_progress"}
        case ev.StepSkipped():
            return {"steps": _step(state, event.step_id, status="skipped", finished_at=at)}
        case ev.StepAdded():
            return {
                "steps": (*state.steps, StepState(id=event.step_id, action_type=event.action_type))
            }
        case ev.StepDispatched():
            step = state.step(event.step_id)
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
            return {
                "steps": _step(
                    state,
                    event.step_id,
                    status="running",
                    phase="execute",
                    attempts=event.attempt,
                    command_id=event.command_id,
                    inputs=event.inputs,
                    started_at=(step.started_at if step and step.started_at else at),
                )
            }
        case ev.StepSucceeded():
            return {
                "steps": _step(
                    state,
                    event.step_id,
                    status="succeeded",
                    outputs=event.outputs,
                    command_id=None,
                    error=None,
                    finished_at=at,
                )
            }
        case ev.StepFailed():
            return {
                "steps": _step(
                    state,
                    event.step_id,
                    status="failed",
                    error=event.error,
                    command_id=None,
                    finished_at=at,
                    **({"outputs": event.outputs} if event.outputs else {}),
                ),
                "error": f"step {event.step_id} failed: {event.error}",
            }
        case ev.StepTimedOut():
            changes: dict[str, Any] = {
                "command_id": None,
                "error": f"timed out (attempt {event.attempt})",
            }
            if event.final and event.phase == "execute":
                changes.update(status="timed_out", finished_at=at)
            result: dict[str, Any] = {"steps": _step(state, event.step_id, **changes)}
            if event.final and event.phase == "execute":
                result["error"] = f"step {event.step_id} timed out after {event.attempt} attempt(s)"
            return result
        case ev.StepRetryScheduled():
            return {"steps": _step(state, event.step_id, command_id=None, error=event.error)}
        case ev.StepCancelled():
            return {
                "steps": _step(
                    state, event.step_id, status="cancelled", command_id=None, finished_at=at
                )
            }
        case ev.TicketCreated():
            return {"ticket": Ticket(key=event.key, url=event.url)}
        case ev.TicketResolvedRecorded():
            return {}
        case ev.AutomationFailed():
            return {"error": event.reason}
        case ev.RollbackStarted():
            return {"status": "rolling_back"}
        case ev.StepCompensated():
            return {
                "steps": _step(
                    state, event.step_id, status="compensated", command_id=None, finished_at=at
                )
            }
        case ev.CompensationFailed():
            return {
                "steps": _step(
                    state,
                    event.step_id,
                    status="failed",
                    command_id=None,
                    error=f"rollback failed: {event.error}",
                    finished_at=at,
                ),
                "rollback_failed": True,
            }
        case ev.RequestRolledBack():
            return {"status": "rolled_back", "completed_at": at}
        case ev.FallbackToManual():
            return {"status": "fallback_to_manual", "completed_at": None}
        case ev.CancellationRequested():
            return {"cancelling": True, "cancelled_by": event.by, "cancel_reason": event.reason}
        case ev.RequestCancelled():
            return {
                "status": "cancelled",
                "cancelling": False,
                "cancelled_by": event.by or state.cancelled_by,
                "cancel_reason": event.reason or state.cancel_reason,
                "error": "cancelled" + (f": {event.reason}" if event.reason else ""),
                "completed_at": at,
            }
        case ev.RequestCompleted():
            return {"status": "completed", "outputs": event.outputs, "completed_at": at}
        case ev.RequestFailed():
            return {"status": "failed", "error": event.error, "completed_at": at}
    raise TypeError(f"evolve has no case for {type(event).__name__}")

"""``evolve(state, event) -> state``: how each event changes a request. Pure, total.

One handler per event type (``evolvers.evolves``): the request's own events here, its
steps' in ``step_evolve``, approvals, the change calendar and change requests in their
``*_evolve`` modules (imported here, so every handler is registered with ``evolve``).
"""

from __future__ import annotations

from collections.abc import Iterable

from pao_orchestrator.domain import (
    approval_evolve,  # noqa: F401  (registers its handlers)
    change_evolve,  # noqa: F401
    change_request_evolve,  # noqa: F401
    step_evolve,  # noqa: F401
)
from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.evolvers import Changes, evolves
from pao_orchestrator.domain.resource_events import OperationRequested
from pao_orchestrator.domain.state import RequestState, StepState, Ticket


def reduce(events: Iterable[ev.DomainEvent], state: RequestState | None = None) -> RequestState:
    """The state after ``events`` (from the empty state unless ``state`` is given)."""
    current = state or RequestState()
    for event in events:
        current = evolve(current, event)
    return current


def evolve(state: RequestState, event: ev.DomainEvent) -> RequestState:
    changes = evolves.changes(state, event)
    changes["version"] = state.version + 1
    changes["updated_at"] = event.occurred_at
    return state.model_copy(update=changes)


@evolves(ev.RequestSubmitted)
def _submitted(state: RequestState, event: ev.RequestSubmitted) -> Changes:
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
        "submitted_at": event.occurred_at,
        "change_class": event.change_class,
        "emergency_reason": event.emergency_reason,
    }


@evolves(OperationRequested)
def _operation_requested(state: RequestState, event: OperationRequested) -> Changes:
    return {"resource_id": event.resource_id, "operation": event.operation}


@evolves(ev.RequestRejectedInvalid)
def _rejected_invalid(state: RequestState, event: ev.RequestRejectedInvalid) -> Changes:
    problems = "; ".join(f"{p.field}: {p.message}" for p in event.errors)
    return {
        "status": "failed",
        "error": f"invalid request: {problems}",
        "completed_at": event.occurred_at,
    }


@evolves(ev.FulfilmentStarted)
def _fulfilment_started(state: RequestState, event: ev.FulfilmentStarted) -> Changes:
    return {"status": "in_progress"}


@evolves(ev.TicketCreated)
def _ticket_created(state: RequestState, event: ev.TicketCreated) -> Changes:
    return {"ticket": Ticket(key=event.key, url=event.url)}


@evolves(ev.TicketResolvedRecorded)
def _ticket_resolved(state: RequestState, event: ev.TicketResolvedRecorded) -> Changes:
    return {}


@evolves(ev.AutomationFailed)
def _automation_failed(state: RequestState, event: ev.AutomationFailed) -> Changes:
    return {"error": event.reason}


@evolves(ev.RollbackStarted)
def _rollback_started(state: RequestState, event: ev.RollbackStarted) -> Changes:
    return {"status": "rolling_back"}


@evolves(ev.RequestRolledBack)
def _rolled_back(state: RequestState, event: ev.RequestRolledBack) -> Changes:
    return {"status": "rolled_back", "completed_at": event.occurred_at}


@evolves(ev.FallbackToManual)
def _fallback_to_manual(state: RequestState, event: ev.FallbackToManual) -> Changes:
    return {"status": "fallback_to_manual", "completed_at": None}


@evolves(ev.CancellationRequested)
def _cancellation_requested(state: RequestState, event: ev.CancellationRequested) -> Changes:
    return {"cancelling": True, "cancelled_by": event.by, "cancel_reason": event.reason}


@evolves(ev.RequestCancelled)
def _cancelled(state: RequestState, event: ev.RequestCancelled) -> Changes:
    return {
        "status": "cancelled",
        "cancelling": False,
        "cancelled_by": event.by or state.cancelled_by,
        "cancel_reason": event.reason or state.cancel_reason,
        "error": "cancelled" + (f": {event.reason}" if event.reason else ""),
        "completed_at": event.occurred_at,
    }


@evolves(ev.RequestCompleted)
def _completed(state: RequestState, event: ev.RequestCompleted) -> Changes:
    return {"status": "completed", "outputs": event.outputs, "completed_at": event.occurred_at}


@evolves(ev.RequestFailed)
def _failed(state: RequestState, event: ev.RequestFailed) -> Changes:
    return {"status": "failed", "error": event.error, "completed_at": event.occurred_at}

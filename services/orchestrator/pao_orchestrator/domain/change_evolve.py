"""How the change calendar's events change a request: held, released, escalated, denied,
overridden. ``RequestState.freeze`` keeps the window met last and what it did."""

from __future__ import annotations

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.evolvers import Changes, evolves
from pao_orchestrator.domain.state import FreezeState, RequestState


def _status_after_release(state: RequestState) -> str:
    approval = state.approval
    return "approved" if approval is not None and approval.decision == "approved" else "submitted"


def _freeze(state: RequestState) -> FreezeState:
    return state.freeze or FreezeState()


@evolves(ev.RequestScheduled)
def _scheduled(state: RequestState, event: ev.RequestScheduled) -> Changes:
    held = _freeze(state).model_copy(
        update={
            "window": event.window,
            "action": "hold",
            "until": event.until,
            "calendar_version": event.calendar_version,
            "holds": event.hold,
            "released_at": None,
        }
    )
    return {"status": "scheduled", "freeze": held}


@evolves(ev.RequestReleased)
def _released(state: RequestState, event: ev.RequestReleased) -> Changes:
    return {
        "status": _status_after_release(state),
        "freeze": _freeze(state).model_copy(update={"released_at": event.occurred_at}),
    }


@evolves(ev.ChangeEscalated)
def _escalated(state: RequestState, event: ev.ChangeEscalated) -> Changes:
    freeze = _freeze(state)
    escalated = freeze.model_copy(
        update={
            "window": event.window,
            "action": "escalate",
            "until": event.until,
            "calendar_version": event.calendar_version,
            "escalated": (*freeze.escalated, event.window),
        }
    )
    return {"freeze": escalated}


@evolves(ev.ChangeDenied)
def _denied(state: RequestState, event: ev.ChangeDenied) -> Changes:
    denied = _freeze(state).model_copy(
        update={
            "window": event.window,
            "action": "deny",
            "until": event.until,
            "calendar_version": event.calendar_version,
        }
    )
    return {
        "status": "rejected",
        "freeze": denied,
        "error": f"change window {event.window} denies {event.change_class} changes"
        f" until {event.until.isoformat()}",
        "completed_at": event.occurred_at,
    }


@evolves(ev.FreezeOverridden)
def _overridden(state: RequestState, event: ev.FreezeOverridden) -> Changes:
    overridden = _freeze(state).model_copy(
        update={
            "window": event.window,
            "action": event.action,
            "until": event.until,
            "calendar_version": event.calendar_version,
            "overridden_by": event.by.id,
            "override_reason": event.reason,
            "overridden_at": event.occurred_at,
        }
    )
    return {"freeze": overridden}


@evolves(ev.FreezeOverrideRefused)
def _override_refused(state: RequestState, event: ev.FreezeOverrideRefused) -> Changes:
    return {}

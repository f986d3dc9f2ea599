"""How the change calendar's events change a request: held, released, escalated, denied,
overridden. ``RequestState.freeze`` keeps the window met last and what it did."""

from __future__ import annotations

from typing import Any

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.state import FreezeState, RequestState

FreezeEvent = (
    ev.RequestScheduled
    | ev.RequestReleased
    | ev.ChangeEscalated
    | ev.ChangeDenied
    | ev.FreezeOverridden
    | ev.FreezeOverrideRefused
)


def _status_after_release(state: RequestState) -> str:
    approval = state.approval
    return "approved" if approval is not None and approval.decision == "approved" else "submitted"


def freeze_changes(state: RequestState, event: FreezeEvent) -> dict[str, Any]:
    at = event.occurred_at
    freeze = state.freeze or FreezeState()
    match event:
        case ev.RequestScheduled():
            held = freeze.model_copy(
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
        case ev.RequestReleased():
            return {
                "status": _status_after_release(state),
                "freeze": freeze.model_copy(update={"released_at": at}),
            }
        case ev.ChangeEscalated():
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
        case ev.ChangeDenied():
            denied = freeze.model_copy(
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
                "completed_at": at,
            }
        case ev.FreezeOverridden():
            overridden = freeze.model_copy(
                update={
                    "window": event.window,
                    "action": event.action,
                    "until": event.until,
                    "calendar_version": event.calendar_version,
                    "overridden_by": event.by.id,
                    "override_reason": event.reason,
                    "overridden_at": at,
                }
            )
            return {"freeze": overridden}
        case ev.FreezeOverrideRefused():
            return {}
    raise TypeError(f"freeze_changes has no case for {type(event).__name__}")

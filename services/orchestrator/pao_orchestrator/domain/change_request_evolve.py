"""How the change request's events change a request: ``RequestState.change_request`` keeps
the record (number, sys_id, approval), the call in flight and the last failure; the
request waits in ``awaiting_change_approval`` until the approval, ends ``rejected`` on a
rejection. Closing happens after the request ended and leaves its status alone."""

from __future__ import annotations

from typing import Any

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.state import ChangeRequestState, RequestState

ChangeRequestEvent = (
    ev.ChangeRequestOpening
    | ev.ChangeRequestOpened
    | ev.ChangeRequestCallFailed
    | ev.ChangeRequestApproved
    | ev.ChangeRequestRejected
    | ev.ChangeRequestClosing
    | ev.ChangeRequestClosed
)


def change_request_changes(state: RequestState, event: ChangeRequestEvent) -> dict[str, Any]:
    at = event.occurred_at
    cr = state.change_request or ChangeRequestState()
    match event:
        case ev.ChangeRequestOpening():
            opening = cr.model_copy(
                update={
                    "system": event.system,
                    "phase": "opening",
                    "fields": event.fields,
                    "command_id": event.command_id,
                    "attempts": event.attempt,
                    "retry_at": None,
                }
            )
            return {"status": "awaiting_change_approval", "change_request": opening}
        case ev.ChangeRequestOpened():
            opened = cr.model_copy(
                update={
                    # a close asked meanwhile (the request ended) stays what it is
                    "phase": "open" if cr.phase == "opening" else cr.phase,
                    "sys_id": event.sys_id,
                    "number": event.number,
                    "url": event.url,
                    "approval": cr.approval
                    if cr.approval in ("approved", "rejected")
                    else (event.approval or "requested"),
                    "command_id": None if cr.phase == "opening" else cr.command_id,
                    "opened_at": at,
                    "last_error": None,
                    "retry_at": None,
                }
            )
            return {"change_request": opened}
        case ev.ChangeRequestCallFailed():
            failed = cr.model_copy(
                update={"command_id": None, "last_error": event.error, "retry_at": event.retry_at}
            )
            return {"change_request": failed}
        case ev.ChangeRequestApproved():
            approved = _decided(cr, event, "approved")
            return {"status": "approved", "change_request": approved}
        case ev.ChangeRequestRejected():
            rejected = _decided(cr, event, "rejected")
            who = f" by {event.by}" if event.by else ""
            why = f": {event.comment}" if event.comment else ""
            return {
                "status": "rejected",
                "change_request": rejected,
                "error": f"change request {event.number or event.sys_id} was rejected{who}{why}",
                "completed_at": at,
            }
        case ev.ChangeRequestClosing():
            closing = cr.model_copy(
                update={
                    "phase": "closing",
                    "command_id": event.command_id,
                    "close_attempts": event.attempt,
                    "retry_at": None,
                }
            )
            return {"change_request": closing}
        case ev.ChangeRequestClosed():
            closed = cr.model_copy(
                update={
                    "phase": "closed",
                    "command_id": None,
                    "closed_at": at,
                    "close_state": event.state,
                    "close_code": event.close_code,
                    "close_found": event.found,
                    "last_error": None,
                    "retry_at": None,
                    "sys_id": cr.sys_id or event.sys_id,
                    "number": cr.number or event.number,
                }
            )
            return {"change_request": closed}
    raise TypeError(f"change_request_changes has no case for {type(event).__name__}")


def _decided(
    cr: ChangeRequestState,
    event: ev.ChangeRequestApproved | ev.ChangeRequestRejected,
    approval: str,
) -> ChangeRequestState:
    return cr.model_copy(
        update={
            "approval": approval,
            "decided_by": event.by,
            "decided_at": event.occurred_at,
            "comment": event.comment,
            "sys_id": cr.sys_id or event.sys_id,
            "number": cr.number or event.number,
        }
    )

"""How the change request's events change a request: ``RequestState.change_request`` keeps
the record (number, sys_id, approval), the call in flight and the last failure; the
request waits in ``awaiting_change_approval`` until the approval, ends ``rejected`` on a
rejection. Closing happens after the request ended and leaves its status alone."""

from __future__ import annotations

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.evolvers import Changes, evolves
from pao_orchestrator.domain.state import ChangeRequestState, RequestState


def _record(state: RequestState) -> ChangeRequestState:
    return state.change_request or ChangeRequestState()


@evolves(ev.ChangeRequestOpening)
def _opening(state: RequestState, event: ev.ChangeRequestOpening) -> Changes:
    opening = _record(state).model_copy(
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


@evolves(ev.ChangeRequestOpened)
def _opened(state: RequestState, event: ev.ChangeRequestOpened) -> Changes:
    cr = _record(state)
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
            "opened_at": event.occurred_at,
            "last_error": None,
            "retry_at": None,
        }
    )
    return {"change_request": opened}


@evolves(ev.ChangeRequestCallFailed)
def _call_failed(state: RequestState, event: ev.ChangeRequestCallFailed) -> Changes:
    failed = _record(state).model_copy(
        update={"command_id": None, "last_error": event.error, "retry_at": event.retry_at}
    )
    return {"change_request": failed}


@evolves(ev.ChangeRequestApproved)
def _approved(state: RequestState, event: ev.ChangeRequestApproved) -> Changes:
    return {"status": "approved", "change_request": _decided(_record(state), event, "approved")}


@evolves(ev.ChangeRequestRejected)
def _rejected(state: RequestState, event: ev.ChangeRequestRejected) -> Changes:
    rejected = _decided(_record(state), event, "rejected")
    who = f" by {event.by}" if event.by else ""
    why = f": {event.comment}" if event.comment else ""
    return {
        "status": "rejected",
        "change_request": rejected,
        "error": f"change request {event.number or event.sys_id} was rejected{who}{why}",
        "completed_at": event.occurred_at,
    }


@evolves(ev.ChangeRequestClosing)
def _closing(state: RequestState, event: ev.ChangeRequestClosing) -> Changes:
    closing = _record(state).model_copy(
        update={
            "phase": "closing",
            "command_id": event.command_id,
            "close_attempts": event.attempt,
            "retry_at": None,
        }
    )
    return {"change_request": closing}


@evolves(ev.ChangeRequestClosed)
def _closed(state: RequestState, event: ev.ChangeRequestClosed) -> Changes:
    cr = _record(state)
    closed = cr.model_copy(
        update={
            "phase": "closed",
            "command_id": None,
            "closed_at": event.occurred_at,
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

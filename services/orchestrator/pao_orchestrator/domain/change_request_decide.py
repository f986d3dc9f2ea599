"""The change request in ``decide``: open it in ServiceNow, wait for its approval, close it.

When the change calendar's ``change_requests:`` names the request's change class (and
its item or owner team), the fulfilment does not start before the change request is
approved:

1. where the fulfilment would start (after PAO's own approvals and the calendar's
   window check), ``ChangeRequestOpening`` and a ``servicenow.open_change`` command
   (fields: summary, description, risk, type, the planned window, ``correlation_id`` =
   the request id); the request waits in ``awaiting_change_approval``;
2. its answer is ``ChangeRequestOpened`` (number, sys_id, url). A failure ServiceNow may
   recover from (down, 5xx, a timeout) is ``ChangeRequestCallFailed`` with ``retry_at``
   and a durable retry timer: the request keeps waiting with the reason, as long as it
   takes; a refusal (4xx) fails the request;
3. ``ChangeRequestDecided`` (the gateway's webhook or the executor's poller) records
   ``ChangeRequestApproved`` and the start is asked again (the calendar included: a
   window that began meanwhile still holds it), or ``ChangeRequestRejected``: the
   request ends ``rejected``;
4. whenever the request ends, ``ChangeRequestClosing`` and a ``servicenow.close_change``:
   closed ``successful`` (completed), ``unsuccessful`` with the failure (failed, rolled
   back), or canceled (cancelled, rejected, expired). Retried like the opening until
   ServiceNow answers; the request's own status does not change any more.

Command and timer ids derive from (request, call, attempt), like a step's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pao_catalog_model.retry import RetryPolicy
from pao_common import portal_links
from pao_common.change_calendar import ChangeRequests
from pao_common.messages import ActionFailed, ActionSucceeded, ChangeRequestDecided, ExecuteAction
from pao_common.servicenow_changes import (
    CORRELATION_DISPLAY,
    RISKS,
    STATE_ASSESS,
    STATE_CANCELED,
    STATE_CLOSED,
    sn_datetime,
)

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain import policy
from pao_orchestrator.domain.decision import Builder, TimerFired, TimerKind, TimerRequest
from pao_orchestrator.domain.state import CHANGE_STEP, RequestState

OPEN_ACTION = "servicenow.open_change"
CLOSE_ACTION = "servicenow.close_change"
CALL_TIMEOUT_S = 60.0
# ServiceNow down: keep trying (the request waits, nothing is lost), at most every 5 min.
RETRY = RetryPolicy(attempts=1, backoff_s=2.0, max_backoff_s=300.0, jitter=True)
SHORT_DESCRIPTION_MAX = 160
INPUT_SUMMARY_MAX = 200


def _policy(b: Builder) -> ChangeRequests | None:
    """The calendar's ``change_requests:`` if it applies to this request, else None."""
    calendar = b.ctx.calendar
    wanted = calendar.change_requests if calendar is not None else None
    if wanted is None:
        return None
    s = b.state
    item = b.ctx.item
    owner = item.metadata.owner if item is not None else None
    return wanted if wanted.applies_to(s.change_class, s.item_id, owner) else None


def may_start(b: Builder) -> bool:
    """Whether the fulfilment may start now; if not, the change request is opened or awaited."""
    cr = b.state.change_request
    if cr is not None:
        return cr.approval == "approved"
    wanted = _policy(b)
    if wanted is None:
        return True
    _open(b, wanted, attempt=1)
    return False


# --- calls -------------------------------------------------------------------------------


def _summary(b: Builder) -> str:
    s = b.state
    item = b.ctx.item
    name = item.metadata.name if item is not None else s.item_id
    who = s.requester.name or s.requester.id if s.requester is not None else "?"
    operation = f" {s.operation}" if s.operation else ""
    text = f"PAO: {name}{operation} for {who} (request {s.request_id})"
    return text if len(text) <= SHORT_DESCRIPTION_MAX else text[: SHORT_DESCRIPTION_MAX - 1] + "…"


def _inputs_summary(b: Builder) -> list[str]:
    item = b.ctx.item
    secret = {
        f.id for f in (item.presentation.fields if item is not None else ()) if f.type == "secret"
    }
    lines = []
    for key, value in sorted(b.state.inputs.items()):
        shown = "(secret)" if key in secret else str(value)
        if len(shown) > INPUT_SUMMARY_MAX:
            shown = shown[: INPUT_SUMMARY_MAX - 1] + "…"
        lines.append(f"  {key}: {shown}")
    return lines


def _description(b: Builder) -> str:
    s = b.state
    item = b.ctx.item
    link = None
    portal = b.ctx.system.get("portal_url")
    if portal:
        link = portal_links.request_url(str(portal), s.request_id)
    lines = [
        f"Opened by the Platform Automation Orchestrator for request {s.request_id}.",
        f"Item: {s.item_id} {s.item_version or ''}".rstrip()
        + (f" ({item.metadata.name})" if item is not None else ""),
        f"Change class: {s.change_class}",
        f"Requested by: {s.requester.id if s.requester else '?'}"
        + (f" <{s.requester.email}>" if s.requester and s.requester.email else ""),
    ]
    if s.operation:
        lines.append(f"Operation: {s.operation} on resource {s.resource_id}")
    if s.emergency_reason:
        lines.append(f"Emergency: {s.emergency_reason}")
    lines += ["Inputs:", *(_inputs_summary(b) or ["  (none)"])]
    if link:
        lines.append(f"Request: {link}")
    return "\n".join(lines)


def _open_fields(b: Builder, wanted: ChangeRequests) -> dict[str, Any]:
    s = b.state
    start = b.now
    end = start + timedelta(seconds=wanted.planned_duration_s)
    fields: dict[str, Any] = {
        "short_description": _summary(b),
        "description": _description(b),
        "type": "emergency" if s.emergency_reason else "normal",
        "risk": RISKS[wanted.risk_of(s.change_class)],
        "start_date": sn_datetime(start),
        "end_date": sn_datetime(end),
        "state": STATE_ASSESS,  # ask for its approval
        "correlation_id": s.request_id,
        "correlation_display": CORRELATION_DISPLAY,
    }
    if wanted.assignment_group:
        fields["assignment_group"] = wanted.assignment_group
    if wanted.category:
        fields["category"] = wanted.category
    return fields


def _open(b: Builder, wanted: ChangeRequests | None, attempt: int) -> None:
    cr = b.state.change_request
    if cr is not None and cr.fields:
        fields = cr.fields  # a retry sends what the first attempt sent
    else:
        assert wanted is not None  # the first attempt opens one because the policy applies
        fields = _open_fields(b, wanted)
    command_id = policy.command_id(b.state.request_id, CHANGE_STEP, "open", attempt)
    b.emit(
        ev.ChangeRequestOpening(
            occurred_at=b.now,
            system=wanted.system if wanted is not None else "servicenow",
            attempt=attempt,
            command_id=command_id,
            fields=fields,
            timeout_s=CALL_TIMEOUT_S,
        )
    )
    _call(b, OPEN_ACTION, "open", attempt, command_id, fields)


def _close_fields(s: RequestState) -> dict[str, Any]:
    rid = s.request_id
    if s.status == "completed":
        return {
            "state": STATE_CLOSED,
            "close_code": "successful",
            "close_notes": f"PAO request {rid} completed.",
        }
    if s.status in ("failed", "rolled_back"):
        ended = "failed" if s.status == "failed" else "failed and was rolled back"
        return {
            "state": STATE_CLOSED,
            "close_code": "unsuccessful",
            "close_notes": f"PAO request {rid} {ended}: {s.error or 'no reason given'}",
        }
    why = f": {s.error}" if s.error else ""
    return {
        "state": STATE_CANCELED,
        "close_notes": f"PAO request {rid} ended {s.status}{why}; the change did not run.",
    }


def _close(b: Builder, attempt: int) -> None:
    s = b.state
    cr = s.change_request
    assert cr is not None
    fields = _close_fields(s)
    command_id = policy.command_id(s.request_id, CHANGE_STEP, "close", attempt)
    b.emit(
        ev.ChangeRequestClosing(
            occurred_at=b.now,
            attempt=attempt,
            command_id=command_id,
            fields=fields,
            timeout_s=CALL_TIMEOUT_S,
        )
    )
    inputs = {**fields, "sys_id": cr.sys_id, "correlation_id": s.request_id}
    _call(b, CLOSE_ACTION, "close", attempt, command_id, inputs)


def _call(
    b: Builder, action: str, call: str, attempt: int, command_id: str, inputs: dict[str, Any]
) -> None:
    rid = b.state.request_id
    b.decision.commands.append(
        ExecuteAction(
            command_id=command_id,
            request_id=rid,
            step_id=CHANGE_STEP,
            action_type=action,
            attempt=attempt,
            inputs=inputs,
            timeout_s=CALL_TIMEOUT_S,
        )
    )
    due = b.now + timedelta(seconds=CALL_TIMEOUT_S + policy.TIMEOUT_GRACE_S)
    _set_timer(b, "change_request_timeout", call, attempt, due, command_id=command_id)


def _set_timer(
    b: Builder,
    kind: TimerKind,
    call: str,
    attempt: int,
    due: datetime,
    *,
    command_id: str | None = None,
) -> None:
    """A durable timer of ``call``'s ``attempt`` (its id derives from them and ``kind``)."""
    rid = b.state.request_id
    fired = TimerFired(
        timer_id=policy.timer_id(rid, kind, call, attempt),
        request_id=rid,
        kind=kind,
        step_id=call,
        attempt=attempt,
        command_id=command_id,
    )
    b.decision.timers.append(TimerRequest(due_at=due, fired=fired))


def close_if_ended(b: Builder, before: RequestState) -> None:
    """The request ended in this decision: close its change request with the outcome."""
    s = b.state
    cr = s.change_request
    if cr is None or not s.is_terminal or before.is_terminal:
        return
    if cr.phase in ("opening", "open"):
        _close(b, cr.close_attempts + 1)


# --- answers -------------------------------------------------------------------------------


def on_result(b: Builder, msg: ActionSucceeded | ActionFailed) -> bool:
    """An answer of the executor; True when the fulfilment may start now."""
    s = b.state
    cr = s.change_request
    if cr is None or cr.command_id is None or cr.command_id != msg.command_id:
        return False  # stale: an earlier attempt, or answered already
    rid = s.request_id
    call = "open" if cr.phase == "opening" else "close"
    attempt = cr.attempts if call == "open" else cr.close_attempts
    b.decision.cancel_timers.append(policy.timer_id(rid, "change_request_timeout", call, attempt))
    if isinstance(msg, ActionFailed):
        _failed(b, call, attempt, msg.command_id, msg.error, msg.retryable)
        return False
    outputs = msg.outputs
    if call == "close":
        b.emit(
            ev.ChangeRequestClosed(
                occurred_at=b.now,
                sys_id=_opt(outputs.get("sys_id")),
                number=_opt(outputs.get("number")),
                state=_opt(outputs.get("state")),
                close_code=_opt(outputs.get("close_code")),
                found=bool(outputs.get("found", True)),
            )
        )
        after_late_open(b)
        return False
    sys_id = _opt(outputs.get("sys_id"))
    if sys_id is None:
        b.emit(ev.RequestFailed(occurred_at=b.now, error="change request: no sys_id returned"))
        return False
    b.emit(
        ev.ChangeRequestOpened(
            occurred_at=b.now,
            sys_id=sys_id,
            number=_opt(outputs.get("number")),
            url=_opt(outputs.get("url")),
            approval=_opt(outputs.get("approval")),
            state=_opt(outputs.get("state")),
        )
    )
    if b.state.is_terminal:
        after_late_open(b)
        return False
    approval = str(outputs.get("approval") or "")
    if approval not in ("approved", "rejected"):
        return False
    # decided already (a retried opening found the record, or the instance approves itself)
    return _decided(b, sys_id, _opt(outputs.get("number")), approval, None, None)


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _failed(
    b: Builder, call: str, attempt: int, command_id: str | None, error: str, retryable: bool
) -> None:
    s = b.state
    rid = s.request_id
    if not retryable:
        b.emit(
            ev.ChangeRequestCallFailed(
                occurred_at=b.now, call=call, attempt=attempt, command_id=command_id, error=error
            )
        )
        if call == "open" and not s.is_terminal:
            b.emit(ev.RequestFailed(occurred_at=b.now, error=f"change request: {error}"))
        return
    seed = command_id or policy.command_id(rid, CHANGE_STEP, call, attempt)
    delay = RETRY.delay_s(min(attempt, 16), seed)
    due = b.now + timedelta(seconds=delay)
    b.emit(
        ev.ChangeRequestCallFailed(
            occurred_at=b.now,
            call=call,
            attempt=attempt,
            command_id=command_id,
            error=error,
            retry_at=due,
        )
    )
    _set_timer(b, "change_request_retry", call, attempt, due)


def on_timer(b: Builder, msg: TimerFired) -> None:
    """A call timed out (no answer: retried) or its retry came due (sent again)."""
    s = b.state
    cr = s.change_request
    if cr is None:
        return
    call = msg.step_id or ""
    in_phase = (call == "open" and cr.phase == "opening") or (
        call == "close" and cr.phase == "closing"
    )
    if not in_phase:
        return
    attempt = cr.attempts if call == "open" else cr.close_attempts
    if call == "open" and s.is_terminal:
        return  # the request ended while opening: its close finds the record by correlation
    if msg.kind == "change_request_timeout":
        if cr.command_id is None or cr.command_id != msg.command_id:
            return  # answered meanwhile
        timeout = f"no answer from the servicenow executor within {CALL_TIMEOUT_S:.0f}s"
        _failed(b, call, attempt, msg.command_id, timeout, True)
        return
    if cr.command_id is not None or msg.attempt != attempt:
        return  # a retry of an earlier attempt
    if call == "open":
        _open(b, _policy(b), attempt + 1)
    else:
        _close(b, attempt + 1)


def on_decided(b: Builder, msg: ChangeRequestDecided) -> bool:
    """The change request was decided in ServiceNow; True when the fulfilment may start."""
    s = b.state
    cr = s.change_request
    if cr is None or s.is_terminal or cr.approval in ("approved", "rejected"):
        return False
    if cr.sys_id is not None and cr.sys_id != msg.sys_id:
        return False  # another record than the one this request opened
    return _decided(b, msg.sys_id, msg.number, msg.approval, msg.by, msg.comment)


def _decided(
    b: Builder,
    sys_id: str,
    number: str | None,
    approval: str,
    by: str | None,
    comment: str | None,
) -> bool:
    common = {"occurred_at": b.now, "sys_id": sys_id, "number": number, "by": by}
    if approval == "approved":
        b.emit(ev.ChangeRequestApproved(**common, comment=comment))
        return True
    b.emit(ev.ChangeRequestRejected(**common, comment=comment))
    return False


def after_late_open(b: Builder) -> None:
    """A record opened after its request ended and found nothing to close: close it now."""
    cr = b.state.change_request
    if (
        cr is not None
        and b.state.is_terminal
        and cr.phase == "closed"
        and cr.close_found is False
        and cr.sys_id is not None
    ):
        _close(b, cr.close_attempts + 1)

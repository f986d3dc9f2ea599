"""The change calendar in ``decide``: classify a request, and gate its start on the calendar.

The class is decided once, at submission, from the item's (or the operation's)
``change_class`` and the request's template context, and recorded in
``RequestSubmitted``. The calendar is asked when the fulfilment would start (after the
item's approvals: a freeze is about when a change runs), with ``ctx.now`` as the time:
``pao_common.change_calendar.verdict`` is the one rule the gateway asks too.

- ``hold``: ``RequestScheduled`` and a durable ``change_window`` timer due at the window's
  end; when it fires, ``RequestReleased`` and the start is asked again (a window that
  begins right then holds it again);
- ``escalate``: ``ChangeEscalated`` and an extra approval stage by the window's team;
  once approved the request starts (the window does not ask it twice);
- ``deny``: ``ChangeDenied``, the request ends ``rejected``.

An emergency override (``SubmitRequest.emergency``) by someone with the calendar's
emergency role lets the change past any of them, recorded as ``FreezeOverridden`` with the
reason; asked by anybody else it is recorded as ``FreezeOverrideRefused`` and ignored.
"""

from __future__ import annotations

from typing import Any

from pao_catalog_model.model import CatalogItem
from pao_common import change_calendar

from pao_orchestrator.domain import approval_decide, policy
from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.decision import Builder, TimerFired, TimerRequest
from pao_orchestrator.domain.state import RequestState


def classify(item: CatalogItem | None, context: dict[str, Any]) -> str:
    """The request's change class (``TemplateError`` when a rule does not evaluate)."""
    spec = item.change_class if item is not None else None
    return "standard" if spec is None else str(spec.of(context))


def window_timer(state: RequestState, hold: int) -> str:
    return policy.timer_id(state.request_id, "change_window", hold)


def may_start(b: Builder) -> bool:
    """Whether the fulfilment may start now; if not, what the calendar did is emitted."""
    calendar = b.ctx.calendar
    s = b.state
    item = b.ctx.item
    owner = item.metadata.owner if item is not None else None
    found = change_calendar.verdict(calendar, b.now, s.change_class, item_id=s.item_id, owner=owner)
    if found is None or calendar is None:  # no calendar: no window is ever found
        return True
    freeze = s.freeze
    if found.action == "escalate" and freeze is not None and found.window in freeze.escalated:
        return True  # its extra stage was approved
    if s.emergency_reason and s.requester is not None:
        if calendar.may_override(s.requester.roles):
            b.emit(
                ev.FreezeOverridden(
                    occurred_at=b.now,
                    window=found.window,
                    action=found.action,
                    until=found.end,
                    by=s.requester,
                    reason=s.emergency_reason,
                    calendar_version=found.calendar_version,
                )
            )
            return True
        refused_before = freeze is not None and freeze.window == found.window
        if not refused_before:
            b.emit(
                ev.FreezeOverrideRefused(
                    occurred_at=b.now,
                    window=found.window,
                    by=s.requester,
                    reason=s.emergency_reason,
                    role=calendar.emergency.role if calendar.emergency else None,
                )
            )
    common = {
        "occurred_at": b.now,
        "window": found.window,
        "until": found.end,
        "change_class": s.change_class,
        "calendar_version": found.calendar_version,
    }
    if found.action == "hold":
        hold = (freeze.holds if freeze is not None else 0) + 1
        b.emit(ev.RequestScheduled(**common, hold=hold))
        fired = TimerFired(
            timer_id=window_timer(b.state, hold),
            request_id=s.request_id,
            kind="change_window",
            attempt=hold,
        )
        b.decision.timers.append(TimerRequest(due_at=found.end, fired=fired))
    elif found.action == "escalate":
        escalation = found.escalate_to
        assert escalation is not None  # the calendar's load checks it
        b.emit(ev.ChangeEscalated(**common, team=escalation.team))
        approval_decide.begin_escalation(
            b, escalation.team, escalation.stage_name, escalation.expires_after_s
        )
    else:
        b.emit(ev.ChangeDenied(**common))
    return False


def on_window_end(b: Builder, msg: TimerFired) -> bool:
    """The hold's window ended: True when the request was released (start it now)."""
    freeze = b.state.freeze
    if b.state.status != "scheduled" or freeze is None or msg.attempt != freeze.holds:
        return False  # cancelled meanwhile, or the timer of an earlier hold
    b.emit(ev.RequestReleased(occurred_at=b.now, window=freeze.window or "", hold=freeze.holds))
    return True

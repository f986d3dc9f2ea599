"""``decide(state, message, ctx) -> Decision``: the whole request lifecycle, without I/O.

Time comes in as ``ctx.now``, the catalog item as ``ctx.item``; ids and backoff jitter
derive from the request (``policy``), so the same input always gives the same decision.
Templates are rendered here with the catalog's sandboxed renderer; the values sent
are recorded in ``StepDispatched``, so replaying the log never renders again.

A decision is built by emitting events one at a time onto a working state, so each
rule sees what the previous one changed (a step succeeded -> the next is dispatched).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pao_catalog_model import forms
from pao_catalog_model.model import Step
from pao_catalog_model.retry import RetryPolicy
from pao_common import templating
from pao_common.errors import TemplateError
from pao_common.messages import (
    ActionFailed,
    ActionProgress,
    ActionStarted,
    ActionSucceeded,
    ApproveRequest,
    CancelRequest,
    ChangeRequestDecided,
    CompensateAction,
    ExecuteAction,
    RejectRequest,
    SubmitRequest,
    TicketResolved,
)

from pao_orchestrator.domain import (
    approval_decide,
    change_decide,
    change_request_decide,
    policy,
    resources,
)
from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.decision import (
    Decision,
    DecisionContext,
    Inbound,
    TimerFired,
    TimerRequest,
)
from pao_orchestrator.domain.evolve import evolve
from pao_orchestrator.domain.state import (
    CHANGE_STEP,
    TICKET_ACTION,
    TICKET_STEP,
    RequestState,
    StepState,
)

# Results that only inform (the step runs since it was dispatched): they never change a
# request, so the service need not even load its stream for them.
INFORMATIONAL = (ActionStarted, ActionProgress)


class _Builder:
    """A decision in the making: events applied to a working copy of the state."""

    def __init__(self, state: RequestState, ctx: DecisionContext) -> None:
        self.state = state
        self.ctx = ctx
        self.decision = Decision()

    def emit(self, event: ev.DomainEvent) -> None:
        self.decision.events.append(event)
        self.state = evolve(self.state, event)

    @property
    def now(self) -> datetime:
        return self.ctx.now


def decide(state: RequestState, message: Inbound, ctx: DecisionContext) -> Decision:
    """The events, commands and timers that ``message`` causes for a request in ``state``."""
    b = _Builder(state, ctx)
    match message:
        case ActionSucceeded() | ActionFailed() if message.step_id == CHANGE_STEP:
            if change_request_decide.on_result(b, message):
                _start_fulfilment(b)
        case ChangeRequestDecided():
            if change_request_decide.on_decided(b, message):
                _start_fulfilment(b)
        case SubmitRequest():
            _on_submit(b, message)
        case ApproveRequest() | RejectRequest():
            _on_approval(b, message)
        case CancelRequest():
            _on_cancel(b, message)
        case TicketResolved():
            _on_ticket_resolved(b, message)
        case ActionSucceeded():
            _on_succeeded(b, message)
        case ActionFailed():
            _on_failed(b, message)
        case ActionStarted() | ActionProgress():
            pass  # the step is already running since it was dispatched; nothing to record
        case TimerFired():
            _on_timer(b, message)
    change_request_decide.close_if_ended(b, state)
    return b.decision


# --- submission and approval -------------------------------------------------------------


def _on_submit(b: _Builder, msg: SubmitRequest) -> None:
    if b.state.status != "new":
        return  # the same request submitted again: it exists already
    if msg.resource_id is not None:  # a day-2 operation on a resource
        target = b.ctx.resource
        if (refusal := resources.operation_refusal(msg, target)) is not None:
            resources.refuse(b, msg, refusal)
            return
        assert target is not None  # operation_refusal refuses an unknown resource
        msg = resources.prefill(msg, target)
    item = b.ctx.item
    base = {
        "occurred_at": b.now,
        "request_id": msg.request_id,
        "item_id": msg.item_id,
        "requester": msg.requester,
        "idempotency_key": msg.idempotency_key,
    }
    if item is None:
        b.emit(ev.RequestSubmitted(item_version=msg.item_version, inputs=msg.inputs, **base))
        problem = b.ctx.item_problem or f"unknown catalog item {msg.item_id!r}"
        field = "item_version" if msg.item_version else "item_id"
        b.emit(
            ev.RequestRejectedInvalid(
                occurred_at=b.now, errors=(ev.FieldProblem(field=field, message=problem),)
            )
        )
        return
    mode = item.fulfillment.mode
    planned: tuple[ev.PlannedStep, ...]
    if mode == "automated":
        automated = item.fulfillment.automated
        assert automated is not None  # the model requires it in this mode
        planned = tuple(ev.PlannedStep(id=s.id, action_type=s.action) for s in automated.steps)
    else:
        planned = (ev.PlannedStep(id=TICKET_STEP, action_type=TICKET_ACTION),)
    problems = forms.validate_inputs(item, msg.inputs)
    inputs = msg.inputs if problems else forms.apply_defaults(item, msg.inputs)
    submitted = ev.RequestSubmitted(
        item_version=item.metadata.version,
        mode=mode,
        inputs=inputs,
        steps=planned,
        emergency_reason=msg.emergency.reason if msg.emergency else None,
        **base,
    )
    class_problem = None
    if not problems:
        # The class reads the request's context, as approval.when does: decide it on the
        # state the submission makes, then record it in the same event.
        probe = evolve(b.state, submitted)
        try:
            change_class = change_decide.classify(item, _context(_Builder(probe, b.ctx)))
            submitted = submitted.model_copy(update={"change_class": change_class})
        except TemplateError as exc:
            class_problem = f"change_class: {exc}"
    b.emit(submitted)
    resources.link(b, msg)
    if problems:
        errors = tuple(ev.FieldProblem(field=p.field, message=p.message) for p in problems)
        b.emit(ev.RequestRejectedInvalid(occurred_at=b.now, errors=errors))
        return
    if class_problem is not None:
        b.emit(ev.RequestFailed(occurred_at=b.now, error=class_problem))
        return
    approval = item.approval  # an operation's own: ctx.item is the item as it sees it
    needs_approval = approval.required
    if needs_approval and approval.when:
        try:
            needs_approval = templating.evaluate(approval.when, _context(b))
        except TemplateError as exc:
            b.emit(ev.RequestFailed(occurred_at=b.now, error=f"approval.when: {exc}"))
            return
    if needs_approval:
        approval_decide.begin_stage(b, 0)
        return
    _start_fulfilment(b)


def _approval_timer(b: _Builder) -> str:
    return approval_decide.approval_timer(b.state)


def _on_approval(b: _Builder, msg: ApproveRequest | RejectRequest) -> None:
    if approval_decide.on_decision(b, msg):
        _start_fulfilment(b)


# --- fulfilment ----------------------------------------------------------------------------


def _start_fulfilment(b: _Builder) -> None:
    if not change_decide.may_start(b):
        return  # held, escalated or denied by a change window
    if not change_request_decide.may_start(b):
        return  # its change request is being opened, or awaits approval in ServiceNow
    mode = b.state.mode or "automated"
    b.emit(ev.FulfilmentStarted(occurred_at=b.now, mode=mode))
    if mode == "manual":
        _dispatch_ticket(b)
    else:
        _advance(b)


def _context(b: _Builder) -> dict[str, Any]:
    s = b.state
    context = templating.build_context(
        inputs=s.inputs,
        user=s.requester,
        item=b.ctx.item,
        request={
            "id": s.request_id,
            "submitted_at": s.submitted_at.isoformat() if s.submitted_at else None,
            "item_version": s.item_version,
            "failure": s.error,
        },
        system={**b.ctx.system, "now": b.now.isoformat()},
        steps={step.id: {"outputs": step.outputs} for step in s.steps if step.id != TICKET_STEP},
    )
    return resources.with_resource(context, b.ctx)


def _step_def(b: _Builder, step_id: str) -> Step | None:
    automated = b.ctx.item.fulfillment.automated if b.ctx.item is not None else None
    return automated.step(step_id) if automated is not None else None


def _advance(b: _Builder) -> None:
    """Run the next pending step, or finish when none is left."""
    if b.state.cancelling:
        _fail_automation(b, "cancelled")
        return
    for step in b.state.steps:
        if step.status != "pending":
            continue
        spec = _step_def(b, step.id)
        if spec is None:
            _fail_step(b, step, f"step {step.id!r} is not in item version {b.state.item_version}")
            return
        if spec.when:
            try:
                run = templating.evaluate(spec.when, _context(b))
            except TemplateError as exc:
                _fail_step(b, step, f"when: {exc}")
                return
            if not run:
                b.emit(ev.StepSkipped(occurred_at=b.now, step_id=step.id, reason="when: false"))
                continue
        _dispatch_step(b, step, spec, attempt=step.attempts + 1)
        return
    _complete(b)


def _complete(b: _Builder) -> None:
    """Every step is done: complete with the item's outputs, or fail like a step would.

    Outputs that do not render (a step returned no ``endpoint`` that an output reads)
    leave resources behind as surely as a failed step: what ran is rolled back.
    """
    item = b.ctx.item
    if item is None:
        problem = b.ctx.item_problem or f"item version {b.state.item_version} is gone"
        _automation_failed(b, f"item outputs: {problem}")
        return
    automated = item.fulfillment.automated
    try:
        outputs = templating.render(dict(automated.outputs), _context(b)) if automated else {}
    except TemplateError as exc:
        _automation_failed(b, f"item outputs: {exc}")
        return
    b.emit(ev.RequestCompleted(occurred_at=b.now, outputs=outputs))


def _automation_failed(b: _Builder, reason: str) -> None:
    b.emit(ev.AutomationFailed(occurred_at=b.now, reason=reason))
    _fail_automation(b, reason)


def _dispatch_step(b: _Builder, step: StepState, spec: Step, attempt: int) -> None:
    try:
        inputs = templating.render(dict(spec.with_), _context(b))
    except TemplateError as exc:
        _fail_step(b, step, f"inputs: {exc}")
        return
    _send(b, step.id, spec.action, "execute", attempt, inputs, spec.timeout_s)


def _dispatch_ticket(b: _Builder) -> None:
    """The manual path: one ``jira`` action whose inputs are the item's rendered ticket."""
    item = b.ctx.item
    manual = item.fulfillment.manual if item is not None else None
    step = b.state.step(TICKET_STEP)
    if manual is None or step is None:
        b.emit(ev.RequestFailed(occurred_at=b.now, error="the item has no manual.jira ticket"))
        return
    try:
        inputs = templating.render(manual.jira.model_dump(mode="json"), _context(b))
    except TemplateError as exc:
        b.emit(ev.RequestFailed(occurred_at=b.now, error=f"manual.jira: {exc}"))
        return
    _send(b, TICKET_STEP, TICKET_ACTION, "execute", step.attempts + 1, inputs, 120.0)


def _send(
    b: _Builder,
    step_id: str,
    action_type: str,
    phase: ev.Phase,
    attempt: int,
    inputs: dict[str, Any],
    timeout_s: float,
    outputs: dict[str, Any] | None = None,
) -> None:
    rid = b.state.request_id
    command_id = policy.command_id(rid, step_id, phase, attempt)
    b.emit(
        ev.StepDispatched(
            occurred_at=b.now,
            step_id=step_id,
            action_type=action_type,
            phase=phase,
            attempt=attempt,
            command_id=command_id,
            inputs=inputs,
            timeout_s=timeout_s,
        )
    )
    common = {
        "command_id": command_id,
        "request_id": rid,
        "step_id": step_id,
        "action_type": action_type,
        "attempt": attempt,
        "inputs": inputs,
        "timeout_s": timeout_s,
    }
    command: ExecuteAction | CompensateAction
    if phase == "execute":
        command = ExecuteAction(**common)
    else:
        command = CompensateAction(**common, outputs=outputs or {})
    b.decision.commands.append(command)
    fired = TimerFired(
        timer_id=policy.timer_id(rid, "step_timeout", step_id, phase, attempt),
        request_id=rid,
        kind="step_timeout",
        step_id=step_id,
        phase=phase,
        attempt=attempt,
        command_id=command_id,
    )
    due = b.now + timedelta(seconds=timeout_s + policy.TIMEOUT_GRACE_S)
    b.decision.timers.append(TimerRequest(due_at=due, fired=fired))


def _timeout_timer(b: _Builder, step: StepState) -> str:
    attempt = step.attempts if step.phase == "execute" else step.compensation_attempts
    return policy.timer_id(b.state.request_id, "step_timeout", step.id, step.phase, attempt)


# --- results -----------------------------------------------------------------------------


def _current(b: _Builder, command_id: str, step_id: str) -> StepState | None:
    """The step this result is for, if it answers the attempt in flight (else: stale)."""
    if b.state.is_terminal:
        return None
    step = b.state.step(step_id)
    if step is None or step.command_id is None or step.command_id != command_id:
        return None
    return step


def _on_succeeded(b: _Builder, msg: ActionSucceeded) -> None:
    step = _current(b, msg.command_id, msg.step_id)
    if step is None:
        return
    b.decision.cancel_timers.append(_timeout_timer(b, step))
    if step.phase == "compensate":
        b.emit(
            ev.StepCompensated(
                occurred_at=b.now,
                step_id=step.id,
                attempt=step.compensation_attempts,
                command_id=msg.command_id,
                outputs=msg.outputs,
            )
        )
        _continue_rollback(b)
        return
    b.emit(
        ev.StepSucceeded(
            occurred_at=b.now,
            step_id=step.id,
            attempt=step.attempts,
            command_id=msg.command_id,
            outputs=msg.outputs,
        )
    )
    if step.id == TICKET_STEP:
        key = msg.outputs.get("key")
        if key is None:
            b.emit(ev.RequestFailed(occurred_at=b.now, error="the jira action returned no key"))
            return
        url = msg.outputs.get("url")
        b.emit(
            ev.TicketCreated(
                occurred_at=b.now,
                step_id=step.id,
                key=str(key),
                url=None if url is None else str(url),
            )
        )
        return
    _advance(b)


def _on_failed(b: _Builder, msg: ActionFailed) -> None:
    step = _current(b, msg.command_id, msg.step_id)
    if step is None:
        return
    b.decision.cancel_timers.append(_timeout_timer(b, step))
    _attempt_failed(
        b,
        step,
        msg.error,
        msg.retryable,
        msg.command_id,
        outputs=msg.outputs,
        error_type=msg.error_type,
    )


def _retry_policy(b: _Builder, step: StepState) -> RetryPolicy:
    if step.id == TICKET_STEP:
        return policy.TICKET_RETRY
    spec = _step_def(b, step.id)
    return spec.retry if spec is not None else RetryPolicy()


def _attempt_failed(
    b: _Builder,
    step: StepState,
    error: str,
    retryable: bool,
    command_id: str,
    *,
    outputs: dict[str, Any] | None = None,
    error_type: str | None = None,
) -> None:
    """One attempt failed: retry it later, or give the step (or its rollback) up."""
    attempt = step.attempts if step.phase == "execute" else step.compensation_attempts
    retry = _retry_policy(b, step)
    if b.state.cancelling and step.phase == "execute":
        b.emit(ev.StepCancelled(occurred_at=b.now, step_id=step.id))
        _advance(b)
        return
    if retryable and attempt < retry.attempts:
        delay = retry.delay_s(attempt, command_id)
        due = b.now + timedelta(seconds=delay)
        b.emit(
            ev.StepRetryScheduled(
                occurred_at=b.now,
                step_id=step.id,
                phase=step.phase,
                attempt=attempt,
                error=error,
                delay_s=delay,
                due_at=due,
            )
        )
        rid = b.state.request_id
        fired = TimerFired(
            timer_id=policy.timer_id(rid, "retry", step.id, step.phase, attempt),
            request_id=rid,
            kind="retry",
            step_id=step.id,
            phase=step.phase,
            attempt=attempt,
        )
        b.decision.timers.append(TimerRequest(due_at=due, fired=fired))
        return
    if step.phase == "compensate":
        b.emit(
            ev.CompensationFailed(
                occurred_at=b.now,
                step_id=step.id,
                attempt=attempt,
                command_id=command_id,
                error=error,
            )
        )
        _continue_rollback(b)
        return
    _fail_step(
        b,
        step,
        error,
        retryable=retryable,
        command_id=command_id,
        outputs=outputs,
        error_type=error_type,
    )


def _fail_step(
    b: _Builder,
    step: StepState,
    error: str,
    *,
    retryable: bool = False,
    command_id: str | None = None,
    outputs: dict[str, Any] | None = None,
    error_type: str | None = None,
) -> None:
    b.emit(
        ev.StepFailed(
            occurred_at=b.now,
            step_id=step.id,
            attempt=step.attempts,
            command_id=command_id,
            error=error,
            retryable=retryable,
            outputs=outputs or {},
            error_type=error_type,
        )
    )
    if step.id == TICKET_STEP:
        b.emit(ev.RequestFailed(occurred_at=b.now, error=f"manual ticket: {error}"))
        return
    _fail_automation(b, f"step {step.id} failed: {error}")


# --- timers --------------------------------------------------------------------------------


def _on_timer(b: _Builder, msg: TimerFired) -> None:
    if msg.kind in ("change_request_retry", "change_request_timeout"):
        change_request_decide.on_timer(b, msg)  # closing goes on after the request ended
        return
    if b.state.is_terminal:
        return
    if msg.kind == "approval_expiry":
        approval_decide.on_expiry(b, msg)
        return
    if msg.kind == "change_window":
        if change_decide.on_window_end(b, msg):
            _start_fulfilment(b)
        return
    step = b.state.step(msg.step_id or "")
    if step is None or step.phase != msg.phase:
        return
    attempt = step.attempts if step.phase == "execute" else step.compensation_attempts
    if msg.kind == "step_timeout":
        _on_step_timeout(b, msg, step, attempt)
    else:
        _on_retry_due(b, msg, step, attempt)


def _on_step_timeout(b: _Builder, msg: TimerFired, step: StepState, attempt: int) -> None:
    if step.command_id is None or step.command_id != msg.command_id:
        return  # answered or superseded meanwhile
    retry = _retry_policy(b, step)
    final = attempt >= retry.attempts or (b.state.cancelling and step.phase == "execute")
    b.emit(
        ev.StepTimedOut(
            occurred_at=b.now,
            step_id=step.id,
            phase=step.phase,
            attempt=attempt,
            command_id=msg.command_id,
            final=final,
        )
    )
    timed_out = b.state.step(step.id)
    assert timed_out is not None
    if final and step.phase == "execute" and not b.state.cancelling:
        if step.id == TICKET_STEP:
            b.emit(ev.RequestFailed(occurred_at=b.now, error="manual ticket: timed out"))
        else:
            _fail_automation(b, f"step {step.id} timed out")
        return
    _attempt_failed(b, timed_out, f"timed out after {attempt} attempt(s)", True, msg.command_id)


def _on_retry_due(b: _Builder, msg: TimerFired, step: StepState, attempt: int) -> None:
    # It must be for the attempt that failed last, with nothing in flight.
    if step.command_id is not None or msg.attempt != attempt:
        return
    if step.phase == "compensate":
        _compensate(b, step, attempt + 1)
    elif b.state.cancelling:
        b.emit(ev.StepCancelled(occurred_at=b.now, step_id=step.id))
        _advance(b)
    elif step.id == TICKET_STEP:
        _dispatch_ticket(b)
    else:
        spec = _step_def(b, step.id)
        if spec is None:
            _fail_step(b, step, f"step {step.id!r} is not in item version {b.state.item_version}")
            return
        _dispatch_step(b, step, spec, attempt=attempt + 1)


# --- failure, rollback, fallback, cancellation ------------------------------------------


def _fail_automation(b: _Builder, reason: str) -> None:
    """Automation stopped (failure or cancel): roll back what ran, then end or fall back."""
    if _next_to_compensate(b) is not None:
        b.emit(ev.RollbackStarted(occurred_at=b.now, reason=reason))
        _continue_rollback(b)
        return
    _after_rollback(b, rolled_back=False)


def _next_to_compensate(b: _Builder) -> tuple[StepState, Step] | None:
    """The last succeeded step (in plan order) that declares a rollback."""
    for step in reversed(b.state.steps):
        if step.status != "succeeded" or step.id == TICKET_STEP:
            continue
        spec = _step_def(b, step.id)
        if spec is not None and spec.rollback is not None:
            return step, spec
    return None


def _continue_rollback(b: _Builder) -> None:
    found = _next_to_compensate(b)
    if found is None:
        _after_rollback(b, rolled_back=True)
        return
    _compensate(b, found[0], 1)


def _compensate(b: _Builder, step: StepState, attempt: int) -> None:
    spec = _step_def(b, step.id)
    if spec is None or spec.rollback is None:
        # A retry of a rollback came due after the item version left the catalog.
        b.emit(
            ev.CompensationFailed(
                occurred_at=b.now,
                step_id=step.id,
                attempt=attempt,
                error=f"rollback: step {step.id!r} is not in item version {b.state.item_version}",
            )
        )
        _continue_rollback(b)
        return
    rollback = spec.rollback
    context = _context(b)
    # The rollback sees its own step's outputs under ``steps.<id>.outputs`` like any other.
    try:
        inputs = templating.render(dict(rollback.with_), context)
    except TemplateError as exc:
        b.emit(
            ev.CompensationFailed(
                occurred_at=b.now, step_id=step.id, attempt=attempt, error=f"rollback: {exc}"
            )
        )
        _continue_rollback(b)
        return
    timeout_s = rollback.timeout_s or spec.timeout_s
    _send(b, step.id, rollback.action, "compensate", attempt, inputs, timeout_s, step.outputs)


def _after_rollback(b: _Builder, *, rolled_back: bool) -> None:
    s = b.state
    # A rollback that failed leaves something behind, whatever started it (a cancel
    # included): the request ends failed, naming the steps an operator must clean up.
    if s.rollback_failed:
        failed = [st.id for st in s.steps if st.error and st.error.startswith("rollback failed")]
        cause = "cancelled" if s.cancelling else s.error
        b.emit(
            ev.RequestFailed(
                occurred_at=b.now,
                error=f"{cause}; rollback failed for {', '.join(failed)}: needs an operator",
            )
        )
        return
    if s.cancelling:
        b.emit(ev.RequestCancelled(occurred_at=b.now))
        return
    if rolled_back:
        b.emit(ev.RequestRolledBack(occurred_at=b.now))
    item = b.ctx.item
    automated = item.fulfillment.automated if item is not None else None
    if item is not None and automated is not None and automated.fallback_to_manual:
        if item.fulfillment.manual is None:
            b.emit(
                ev.RequestFailed(
                    occurred_at=b.now,
                    error=f"{s.error}; fallback_to_manual is set but the item has no manual.jira",
                )
            )
            return
        b.emit(ev.FallbackToManual(occurred_at=b.now, reason=s.error or "automation failed"))
        b.emit(ev.StepAdded(occurred_at=b.now, step_id=TICKET_STEP, action_type=TICKET_ACTION))
        _dispatch_ticket(b)
        return
    if not rolled_back:
        b.emit(ev.RequestFailed(occurred_at=b.now, error=s.error or "automation failed"))


def _on_cancel(b: _Builder, msg: CancelRequest) -> None:
    s = b.state
    if s.status == "new" or s.is_terminal or s.cancelling:
        return
    if s.status in (
        "submitted",
        "awaiting_approval",
        "approved",
        "scheduled",
        "awaiting_change_approval",
    ):
        b.decision.cancel_timers.append(_approval_timer(b))
        if s.status == "scheduled" and s.freeze is not None:
            b.decision.cancel_timers.append(change_decide.window_timer(s, s.freeze.holds))
        b.emit(ev.RequestCancelled(occurred_at=b.now, by=msg.by, reason=msg.reason))
        return
    if s.status == "rolling_back":
        # Rollback is under way: let it finish, then end as cancelled (no fallback).
        b.emit(ev.CancellationRequested(occurred_at=b.now, by=msg.by, reason=msg.reason))
        return
    ticket = s.step(TICKET_STEP)
    if ticket is not None and ticket.status in ("running", "succeeded"):
        # Manual path (or fallback): the ticket is not rolled back; its team is told.
        if ticket.command_id is not None:
            b.decision.cancel_timers.append(_timeout_timer(b, ticket))
        b.emit(ev.RequestCancelled(occurred_at=b.now, by=msg.by, reason=msg.reason))
        _comment_on_ticket(b, msg)
        return
    b.emit(ev.CancellationRequested(occurred_at=b.now, by=msg.by, reason=msg.reason))
    flying = b.state.in_flight()
    if flying is not None and flying.command_id is not None:
        return  # its answer (or its timeout) continues the cancellation
    if flying is not None:
        # Waiting for a retry: nothing is out, stop here.
        b.emit(ev.StepCancelled(occurred_at=b.now, step_id=flying.id))
    _fail_automation(b, "cancelled")


def _comment_on_ticket(b: _Builder, msg: CancelRequest) -> None:
    """Comment on the manual ticket that its request was cancelled (and leave it open).

    The ``jira`` executor's compensation of the ticket step does it: it finds the
    ticket by ``outputs.key`` or, if the creation was still in flight, by the
    request's label. Fire and forget: the request has ended, its answer changes nothing.
    """
    s = b.state
    who = msg.by.name or msg.by.id
    reason = f": {msg.reason.rstrip('.')}." if msg.reason else "."
    comment = (
        f"PAO request {s.request_id} was cancelled by {who}{reason} "
        "No further work is needed on this ticket."
    )
    outputs = {"key": s.ticket.key, "url": s.ticket.url} if s.ticket is not None else {}
    b.decision.commands.append(
        CompensateAction(
            command_id=policy.command_id(s.request_id, TICKET_STEP, "cancel-comment", 1),
            request_id=s.request_id,
            step_id=TICKET_STEP,
            action_type=TICKET_ACTION,
            inputs={"comment": comment, "close": False},
            outputs=outputs,
            timeout_s=120.0,
        )
    )


# --- manual completion ---------------------------------------------------------------------


def _on_ticket_resolved(b: _Builder, msg: TicketResolved) -> None:
    s = b.state
    if s.is_terminal or s.ticket is None or s.ticket.key != msg.ticket_key:
        return
    b.emit(
        ev.TicketResolvedRecorded(
            occurred_at=b.now, key=msg.ticket_key, outcome=msg.outcome, resolution=msg.resolution
        )
    )
    if msg.outcome == "done":
        outputs = {"ticket_key": s.ticket.key, "ticket_url": s.ticket.url}
        b.emit(ev.RequestCompleted(occurred_at=b.now, outputs=outputs))
    else:
        why = msg.reason or msg.resolution or "won't do"
        b.emit(ev.RequestFailed(occurred_at=b.now, error=f"ticket {msg.ticket_key}: {why}"))

"""Staged approvals in ``decide``: begin a stage, weigh a decision, expire a stage.

Each stage's approvers are resolved when the stage begins (the requester's manager, the
resource owner's team), recorded in ``ApprovalRequested`` and never re-resolved, so a
replay gives the same approvers. Who may decide, and when a stage is done, is
``pao_common.approvals`` (the gateway asks the same function before it sends a command).
Each stage has its own expiry timer; the first keeps the one-rule form's timer id.
"""

from __future__ import annotations

from datetime import timedelta

from pao_catalog_model.model import Approval
from pao_common import approvals
from pao_common.messages import ApproveRequest, RejectRequest

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain import policy, resources
from pao_orchestrator.domain.decision import Builder, TimerFired, TimerRequest
from pao_orchestrator.domain.state import RequestState


def approval_spec(b: Builder) -> Approval | None:
    """The approval rule that applies (for a day-2 request ``ctx.item`` is already the item
    as the operation sees it, with the operation's approval)."""
    item = b.ctx.item
    return item.approval if item is not None else None


def approval_timer(state: RequestState, stage: int | None = None) -> str:
    if stage is None:
        stage = state.approval.stage if state.approval is not None else 0
    if stage == 0:
        return policy.timer_id(state.request_id, "approval_expiry")
    return policy.timer_id(state.request_id, "approval_expiry", stage)


def _resource_owner_team(b: Builder) -> str | None:
    """An operation's resource's owner team; for provisioning, the team it will have."""
    target = b.ctx.resource
    if target is not None and target.owner_team:
        return target.owner_team
    item = b.ctx.item
    owner_input = item.resource.owner_input if item is not None else None
    return approvals.provisioning_owner_team(owner_input, b.state.inputs, b.state.requester)


def begin_stage(b: Builder, index: int) -> None:
    """Ask stage ``index``'s approvers. At the first stage every stage is checked: one
    that nobody can ever complete (``approvals.resolve_stage``: e.g. the requester's
    manager is unknown) refuses the request now, naming why, instead of waiting for the
    stage's expiry."""
    rule = approval_spec(b)
    stages = rule.effective_stages() if rule is not None else ()
    if rule is None or index >= len(stages):
        b.emit(ev.RequestFailed(occurred_at=b.now, error=f"approval: no stage {index + 1}"))
        return
    specs = approvals.stage_rules(rule)
    requester = b.state.requester
    owner = _resource_owner_team(b) if any(s.resource_owner_team for s in specs) else None
    if index == 0:
        problem = approvals.first_unresolvable(specs, requester=requester, owner_team=owner)
        if problem is not None:
            b.emit(
                ev.RequestRejected(occurred_at=b.now, by=resources.ORCHESTRATOR, comment=problem)
            )
            return
    spec = stages[index]
    resolved = approvals.resolve_stage(
        specs[index], number=index + 1, requester=requester, owner_team=owner
    )
    if resolved.problem is not None:  # what it names changed since the submission
        b.emit(ev.RequestFailed(occurred_at=b.now, error=resolved.problem))
        return
    users, teams = resolved.users, resolved.teams
    expires_at = b.now + timedelta(seconds=spec.expires_after_s)
    b.emit(
        ev.ApprovalRequested(
            occurred_at=b.now,
            approver_teams=teams,
            approver_users=users,
            expires_at=expires_at,
            stage=index,
            stage_name=spec.name,
            rule=spec.rule,
            n=spec.n,
            stages=len(stages),
        )
    )
    fired = TimerFired(
        timer_id=approval_timer(b.state, index),
        request_id=b.state.request_id,
        kind="approval_expiry",
        attempt=index,
    )
    b.decision.timers.append(TimerRequest(due_at=expires_at, fired=fired))


def begin_escalation(b: Builder, team: str, stage_name: str, expires_after_s: int) -> None:
    """An extra stage after the item's own (a change window's ``escalate``): ``any`` member
    of ``team``; it is the last stage, so its approval starts the fulfilment."""
    approval = b.state.approval
    index = len(approval.stages) if approval is not None else 0
    expires_at = b.now + timedelta(seconds=expires_after_s)
    b.emit(
        ev.ApprovalRequested(
            occurred_at=b.now,
            approver_teams=(team,),
            expires_at=expires_at,
            stage=index,
            stage_name=stage_name,
            rule="any",
            stages=index + 1,
        )
    )
    fired = TimerFired(
        timer_id=approval_timer(b.state, index),
        request_id=b.state.request_id,
        kind="approval_expiry",
        attempt=index,
    )
    b.decision.timers.append(TimerRequest(due_at=expires_at, fired=fired))


def on_decision(b: Builder, msg: ApproveRequest | RejectRequest) -> bool:
    """Weigh one approver's decision; True when the request is now approved."""
    state = b.state
    if state.status != "awaiting_approval" or state.approval is None:
        return False
    stage = state.approval.current
    choice: approvals.Choice = "approve" if isinstance(msg, ApproveRequest) else "reject"
    requester_id = state.requester.id if state.requester else None
    refused = approvals.refusal(stage, msg.by, choice, requester_id)
    if refused is not None or stage is None:
        reason = refused.message if refused else "no stage awaits a decision"
        code = refused.code if refused else None
        b.emit(
            ev.ApprovalRefused(
                occurred_at=b.now, by=msg.by, decision=choice, reason=reason, code=code
            )
        )
        return False
    index = state.approval.stage
    if choice == "reject":
        b.decision.cancel_timers.append(approval_timer(state, index))
        b.emit(ev.RequestRejected(occurred_at=b.now, by=msg.by, comment=msg.comment, stage=index))
        return False
    mine = approvals.StageDecision(
        by=msg.by.id, teams=msg.by.teams, admin=msg.by.is_admin, decision="approve"
    )
    done = approvals.stage_done(stage.model_copy(update={"decisions": (*stage.decisions, mine)}))
    last = index + 1 >= state.approval.stage_count
    if done and last:
        b.decision.cancel_timers.append(approval_timer(state, index))
        b.emit(ev.RequestApproved(occurred_at=b.now, by=msg.by, comment=msg.comment, stage=index))
        return True
    b.emit(ev.ApprovalRecorded(occurred_at=b.now, by=msg.by, comment=msg.comment, stage=index))
    if done:
        b.decision.cancel_timers.append(approval_timer(state, index))
        begin_stage(b, index + 1)
    return False


def on_expiry(b: Builder, msg: TimerFired) -> None:
    approval = b.state.approval
    if b.state.status != "awaiting_approval" or approval is None:
        return
    if msg.attempt != approval.stage:
        return  # the timer of a stage that has ended meanwhile
    b.emit(ev.ApprovalExpired(occurred_at=b.now, stage=approval.stage))

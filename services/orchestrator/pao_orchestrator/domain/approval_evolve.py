"""How approval events change a request: stages begun, decisions recorded, the outcome.

``ApprovalState.approver_users``/``approver_teams``/``expires_at`` always describe the
current stage (what the read model's visibility filter and the inbox match on);
``stages`` keeps every stage begun so far with its decisions, who and when.
"""

from __future__ import annotations

from typing import Any

from pao_common.approvals import StageDecision, StageState
from pao_common.messages import Requester

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.evolvers import Changes, evolves
from pao_orchestrator.domain.state import ApprovalState, RequestState


def _with_stage(approval: ApprovalState, **changes: Any) -> tuple[StageState, ...]:
    """``approval.stages`` with the current stage changed (decisions are appended)."""
    current = approval.current
    if current is None:
        return approval.stages
    if "decision" in changes:
        changes["decisions"] = (*current.decisions, changes.pop("decision"))
    stages = list(approval.stages)
    stages[approval.stage] = current.model_copy(update=changes)
    return tuple(stages)


def _decision(
    by: Requester, choice: str, comment: str | None, event: ev.DomainEvent
) -> StageDecision:
    return StageDecision(
        by=by.id,
        teams=by.teams,
        admin=by.is_admin,
        decision="approve" if choice == "approve" else "reject",
        comment=comment,
        at=event.occurred_at,
    )


def _approval(state: RequestState) -> ApprovalState:
    return state.approval or ApprovalState()


@evolves(ev.ApprovalRequested)
def _requested(state: RequestState, event: ev.ApprovalRequested) -> Changes:
    approval = _approval(state)
    begun = StageState(
        name=event.stage_name,
        rule=event.rule,
        n=event.n,
        approver_users=event.approver_users,
        approver_teams=event.approver_teams,
        expires_at=event.expires_at,
    )
    earlier = approval.stages[: event.stage]
    if earlier and earlier[-1].status == "awaiting":
        earlier = (*earlier[:-1], earlier[-1].model_copy(update={"status": "approved"}))
    return {
        "status": "awaiting_approval",
        "approval": ApprovalState(
            approver_teams=event.approver_teams,
            approver_users=event.approver_users,
            expires_at=event.expires_at,
            refused=approval.refused,
            stage=event.stage,
            stage_count=event.stages,
            stages=(*earlier, begun),
        ),
    }


@evolves(ev.ApprovalRefused)
def _refused(state: RequestState, event: ev.ApprovalRefused) -> Changes:
    approval = _approval(state)
    return {"approval": approval.model_copy(update={"refused": (*approval.refused, event.by.id)})}


@evolves(ev.ApprovalRecorded)
def _recorded(state: RequestState, event: ev.ApprovalRecorded) -> Changes:
    approval = _approval(state)
    decision = _decision(event.by, "approve", event.comment, event)
    stages = _with_stage(approval, decision=decision)
    return {"approval": approval.model_copy(update={"stages": stages})}


@evolves(ev.RequestApproved)
def _approved(state: RequestState, event: ev.RequestApproved) -> Changes:
    approval = _approval(state)
    decided = {
        "decided_by": event.by.id,
        "decision": "approved",
        "comment": event.comment,
        "stages": _with_stage(
            approval,
            status="approved",
            decision=_decision(event.by, "approve", event.comment, event),
        ),
    }
    return {"status": "approved", "approval": approval.model_copy(update=decided)}


@evolves(ev.RequestRejected)
def _rejected(state: RequestState, event: ev.RequestRejected) -> Changes:
    approval = _approval(state)
    decided = {
        "decided_by": event.by.id,
        "decision": "rejected",
        "comment": event.comment,
        "stages": _with_stage(
            approval,
            status="rejected",
            decision=_decision(event.by, "reject", event.comment, event),
        ),
    }
    return {
        "status": "rejected",
        "approval": approval.model_copy(update=decided),
        "error": f"rejected by {event.by.id}" + (f": {event.comment}" if event.comment else ""),
        "completed_at": event.occurred_at,
    }


@evolves(ev.ApprovalExpired)
def _expired(state: RequestState, event: ev.ApprovalExpired) -> Changes:
    approval = _approval(state)
    expired = {"decision": "expired", "stages": _with_stage(approval, status="expired")}
    where = f" at stage {event.stage + 1}" if approval.stage_count > 1 else ""
    return {
        "status": "expired",
        "approval": approval.model_copy(update=expired),
        "error": f"approval expired{where}",
        "completed_at": event.occurred_at,
    }

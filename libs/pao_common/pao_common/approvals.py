"""The approval rule, once: who may decide at the current stage, and when a stage is done.

The orchestrator's domain decides with it, and the gateway answers 403/409 with it before
it sends a command (issue #15: the rule used to exist in both, and drifted). Both hold the
same data: a stage as ``StageState`` (the approvers resolved when the stage began) and the
decisions taken on it.

A stage's approvers are *slots*: each named user, and each team (one member of it decides
for the team). ``any`` is done at the first approval, ``n`` at n approvals by different
people, ``all`` when every slot is covered (a member of two approver teams covers both).
A platform admin may decide any stage; their approval completes the stage (an override,
recorded under their name like any other decision).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pao_common.messages import Requester

Rule = Literal["any", "all", "n"]
Choice = Literal["approve", "reject"]


class StageDecision(BaseModel):
    """One person's decision on one stage."""

    model_config = ConfigDict(frozen=True)
    by: str
    teams: tuple[str, ...] = ()
    admin: bool = False
    decision: Choice
    comment: str | None = None
    at: datetime | None = None


class StageState(BaseModel):
    """A stage as it runs: its resolved approvers, its rule and what was decided."""

    model_config = ConfigDict(frozen=True)
    name: str | None = None
    rule: Rule = "any"
    n: int | None = None
    approver_users: tuple[str, ...] = ()
    approver_teams: tuple[str, ...] = ()
    expires_at: datetime | None = None
    status: Literal["pending", "awaiting", "approved", "rejected", "expired"] = "awaiting"
    decisions: tuple[StageDecision, ...] = ()

    @property
    def needed(self) -> int:
        """How many approvals complete the stage (``all``: one per slot)."""
        if self.rule == "any":
            return 1
        if self.rule == "n":
            return self.n or 1
        return len(self.approver_users) + len(self.approver_teams)


@dataclass(frozen=True)
class Refusal:
    """Why a person may not decide; ``code`` maps to HTTP (403 / 409)."""

    code: Literal["not_approver", "self_approval", "already_decided"]
    message: str

    @property
    def http_status(self) -> int:
        return 409 if self.code == "already_decided" else 403


def is_stage_approver(stage: StageState, who: Requester) -> bool:
    return (
        who.is_admin
        or who.id in stage.approver_users
        or bool(set(who.teams) & set(stage.approver_teams))
    )


def refusal(
    stage: StageState | None,
    who: Requester,
    choice: Choice,
    requester_id: str | None,
) -> Refusal | None:
    """Why ``who`` may not take ``choice`` on ``stage`` now (None: they may)."""
    if stage is None or not is_stage_approver(stage, who):
        return Refusal("not_approver", f"{who.id} is not an approver of the current stage")
    if choice == "approve" and requester_id is not None and who.id == requester_id:
        return Refusal(
            "self_approval", f"{who.id} requested it: a request is approved by someone else"
        )
    if any(d.by == who.id for d in stage.decisions):
        where = f" {stage.name}" if stage.name else ""
        return Refusal("already_decided", f"{who.id} has already decided stage{where}")
    return None


def _approvals(decisions: Iterable[StageDecision]) -> list[StageDecision]:
    return [d for d in decisions if d.decision == "approve"]


def stage_done(stage: StageState) -> bool:
    """Whether the stage's approvals satisfy its rule."""
    approvals = _approvals(stage.decisions)
    if any(d.admin for d in approvals):
        return True
    if stage.rule == "all":
        ids = {d.by for d in approvals}
        teams = {t for d in approvals for t in d.teams}
        return all(u in ids for u in stage.approver_users) and all(
            t in teams for t in stage.approver_teams
        )
    return len({d.by for d in approvals}) >= stage.needed


def awaits(stage: StageState, who: Requester) -> bool:
    """Whether the stage awaits ``who``'s decision (the approver inbox)."""
    return stage.status == "awaiting" and refusal(stage, who, "reject", None) is None


def current_stage(stages: Sequence[StageState], index: int) -> StageState | None:
    return stages[index] if 0 <= index < len(stages) else None


def stage_from_view(approval: Mapping[str, Any] | None) -> StageState | None:
    """The current stage of a ``request_view.approval`` document (the read model).

    Rows projected before stages existed carry only the top-level approver lists: they
    are one ``any`` stage.
    """
    if not approval:
        return None
    stages = approval.get("stages") or []
    index = int(approval.get("stage") or 0)
    if stages:
        return StageState.model_validate(stages[index]) if index < len(stages) else None
    return StageState(
        approver_users=tuple(approval.get("approver_users") or ()),
        approver_teams=tuple(approval.get("approver_teams") or ()),
    )

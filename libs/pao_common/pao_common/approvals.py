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

A stage's approvers are resolved from the item's rule once, from what the submission
says (``resolve_stage``): the requester's manager (the token's manager claim) and the
resource owner's team. A stage that nobody can complete (no approver resolved, an
``all`` stage missing one of its approvers or naming the requester, fewer approvers than
``n``) is refused at submission, by the gateway (422) and the orchestrator alike, instead
of waiting for its expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

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


@dataclass(frozen=True)
class StageRule:
    """A stage as the catalog item declares it (before anyone is resolved)."""

    name: str | None = None
    rule: Rule = "any"
    n: int | None = None
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    requester_manager: bool = False
    resource_owner_team: bool = False


class DeclaredApprovers(Protocol):
    """The approvers a catalog stage names (``pao_catalog_model.model.Approvers``)."""

    @property
    def users(self) -> Sequence[str]: ...
    @property
    def teams(self) -> Sequence[str]: ...
    @property
    def requester_manager(self) -> bool: ...
    @property
    def resource_owner_team(self) -> bool: ...


class DeclaredStage(Protocol):
    """A stage as a catalog item declares it (``pao_catalog_model.model.ApprovalStage``)."""

    @property
    def name(self) -> str | None: ...
    @property
    def rule(self) -> Rule: ...
    @property
    def n(self) -> int | None: ...
    @property
    def approvers(self) -> DeclaredApprovers: ...


class DeclaredApproval(Protocol):
    """A catalog item's ``approval`` (``pao_catalog_model.model.Approval``), as far as
    ``stage_rules`` reads it: pao_common cannot import the catalog language library,
    which imports pao_common."""

    def effective_stages(self) -> Sequence[DeclaredStage]: ...


def stage_rules(approval: DeclaredApproval) -> tuple[StageRule, ...]:
    """The stages of a catalog item's ``approval`` (its ``effective_stages()``), as this
    module reads them."""
    return tuple(
        StageRule(
            name=stage.name,
            rule=stage.rule,
            n=stage.n,
            users=tuple(stage.approvers.users),
            teams=tuple(stage.approvers.teams),
            requester_manager=stage.approvers.requester_manager,
            resource_owner_team=stage.approvers.resource_owner_team,
        )
        for stage in approval.effective_stages()
    )


def provisioning_owner_team(
    owner_input: str | None, inputs: Mapping[str, Any], requester: Requester | None
) -> str | None:
    """The team a resource being provisioned will belong to: the owner input's value if the
    item names one and it was given, else the requester's first team."""
    if owner_input and inputs.get(owner_input):
        return str(inputs[owner_input])
    return requester.teams[0] if requester and requester.teams else None


@dataclass(frozen=True)
class ResolvedStage:
    """Who decides a stage; ``problem`` says why nobody can complete it (None: they can)."""

    users: tuple[str, ...]
    teams: tuple[str, ...]
    problem: str | None = None


def resolve_stage(
    spec: StageRule,
    *,
    number: int,
    requester: Requester | None,
    owner_team: str | None,
) -> ResolvedStage:
    """The approvers of stage ``number`` (1-based) of a request by ``requester``."""
    users = spec.users
    teams = spec.teams
    manager = requester.manager if requester else None
    requester_id = requester.id if requester else None
    unresolved: list[str] = []
    if spec.requester_manager:
        if manager:
            users += () if manager in users else (manager,)
        else:
            unresolved.append(
                f"the requester's manager, and {requester_id or 'the requester'} has no"
                " manager on record (the token's manager claim)"
            )
    if spec.resource_owner_team:
        if owner_team:
            teams += () if owner_team in teams else (owner_team,)
        else:
            unresolved.append("the resource owner's team, and no owner team is known")
    if requester_id in users:
        unresolved.append(f"{requester_id}, who requested it (nobody approves their own request)")
    deciders = [u for u in users if u != requester_id]
    where = f"approval stage {number}" + (f" ({spec.name})" if spec.name else "")
    problem = None
    if not deciders and not teams:
        names = "; ".join(unresolved) or "no approver"
        problem = f"{where}: nobody can approve it: it names {names}"
    elif spec.rule == "all" and unresolved:
        problem = f"{where} needs all of its approvers, and it names {'; '.join(unresolved)}"
    elif spec.rule == "n" and not teams and len(deciders) < (spec.n or 1):
        problem = (
            f"{where} needs {spec.n} approvals and only {len(deciders)} approver(s)"
            f" can give one ({', '.join(deciders)})"
        )
    return ResolvedStage(users=users, teams=teams, problem=problem)


def first_unresolvable(
    specs: Sequence[StageRule], *, requester: Requester | None, owner_team: str | None
) -> str | None:
    """Why one of the stages can never be completed (the first such), or None."""
    for number, spec in enumerate(specs, start=1):
        resolved = resolve_stage(spec, number=number, requester=requester, owner_team=owner_team)
        if resolved.problem:
            return resolved.problem
    return None


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

"""Who sees and decides which request.

- a requester sees their own requests;
- a team member sees the requests of any team they share with the requester;
- an approver (named user or member of an approver team) sees what awaits them;
- role ``platform-admin`` sees everything, and may approve and cancel anything.

``can_see`` decides for one row; ``sql_filter`` says the same in SQL for lists,
and the two are tested against each other.
"""

from __future__ import annotations

from typing import Any

from pao_common import approvals

from pao_gateway.identity import User


def is_approver(user: User, approval: dict[str, Any] | None) -> bool:
    """Whether ``user`` may decide the current stage (``pao_common.approvals``, as the
    orchestrator decides)."""
    if user.is_admin:
        return True
    stage = approvals.stage_from_view(approval)
    return stage is not None and approvals.is_stage_approver(stage, user.as_requester())


def can_see(user: User, row: dict[str, Any]) -> bool:
    if user.is_admin or row.get("requester_id") == user.id:
        return True
    if set(user.teams) & set(row.get("requester_teams") or ()):
        return True
    return is_approver(user, row.get("approval"))


def can_cancel(user: User, row: dict[str, Any]) -> bool:
    """The requester, their team mates and platform admins may cancel."""
    if user.is_admin or row.get("requester_id") == user.id:
        return True
    return bool(set(user.teams) & set(row.get("requester_teams") or ()))


def sql_filter(user: User, args: list[Any], alias: str = "r") -> str:
    """A WHERE fragment matching the rows ``user`` may see; appends its parameters to ``args``."""
    if user.is_admin:
        return "TRUE"
    args.append(user.id)
    uid = f"${len(args)}"
    args.append(list(user.teams))
    teams = f"${len(args)}"
    return (
        f"({alias}.requester_id = {uid}"
        f" OR {alias}.requester_teams && {teams}::text[]"
        f" OR COALESCE({alias}.approval -> 'approver_users', '[]'::jsonb) ? {uid}"
        f" OR COALESCE({alias}.approval -> 'approver_teams', '[]'::jsonb) ?| {teams}::text[])"
    )

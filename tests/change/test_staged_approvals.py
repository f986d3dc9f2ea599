"""Staged approvals in the pure domain: stages in order, rules, rejection, expiry, refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.loader import load_file
from pao_common.messages import ApproveRequest, RejectRequest, Requester, SubmitRequest
from pao_orchestrator.domain.events import ApprovalRefused, RequestRejected
from pao_orchestrator.domain.state import ApprovalState

from tests.orchestrator.items import ALICE, Run, automated_item, event

ANA = Requester(id="ana", teams=("finance",))
BEN = Requester(id="ben", teams=("finance",))
SEC = Requester(id="sam", teams=("security",))
SEC2 = Requester(id="sue", teams=("security",))

TWO_STAGES = [
    {
        "name": "data owners",
        "approvers": {"users": ["ana", "ben"]},
        "rule": "all",
        "expires_after": "2h",
    },
    {
        "name": "security",
        "approvers": {"teams": ["security"]},
        "rule": "any",
        "expires_after": "1h",
    },
]


def approval_of(run: Run) -> ApprovalState:
    """The request's approval now, which it has."""
    approval = run.state.approval
    assert approval is not None
    return approval


def _run() -> Run:
    run = Run(automated_item(approval=TWO_STAGES))
    run.submit()
    return run


def test_starts_only_after_all_of_stage_one_then_any_of_stage_two() -> None:
    run = _run()
    approval = run.state.approval
    assert run.state.status == "awaiting_approval" and approval is not None
    assert approval.stage == 0 and approval.stage_count == 2
    assert approval.approver_users == ("ana", "ben")
    assert [t.due_at - run.now for t in run.timers.values()] == [timedelta(hours=2)]

    d = run.send(ApproveRequest(request_id="req-1", by=ANA, comment="ok by me"))
    assert run.types()[-1:] == ["ApprovalRecorded"] and not d.commands
    assert approval_of(run).stage == 0
    # the team of stage two cannot decide stage one
    run.send(ApproveRequest(request_id="req-1", by=SEC))
    assert run.types()[-1] == "ApprovalRefused"

    d = run.send(ApproveRequest(request_id="req-1", by=BEN))
    assert [e.event_type for e in d.events] == ["ApprovalRecorded", "ApprovalRequested"]
    assert not d.commands, "stage two has not decided yet"
    stage_two = run.state
    assert stage_two.status == "awaiting_approval" and stage_two.approval is not None
    assert stage_two.approval.approver_teams == ("security",)
    assert sorted(t.fired.attempt for t in run.timers.values()) == [1], "stage one's timer gone"

    d = run.send(ApproveRequest(request_id="req-1", by=SEC, comment="fine"))
    assert [e.event_type for e in d.events][:2] == ["RequestApproved", "FulfilmentStarted"]
    approved = run.state
    assert d.commands and approved.status == "in_progress" and approved.approval is not None
    stages = approved.approval.stages
    assert [s.status for s in stages] == ["approved", "approved"]
    assert [(x.by, x.decision, x.comment) for s in stages for x in s.decisions] == [
        ("ana", "approve", "ok by me"),
        ("ben", "approve", None),
        ("sam", "approve", "fine"),
    ]
    assert all(x.at == run.now for s in stages for x in s.decisions)


def test_rejection_at_stage_two_ends_it() -> None:
    run = _run()
    run.send(ApproveRequest(request_id="req-1", by=ANA))
    run.send(ApproveRequest(request_id="req-1", by=BEN))
    d = run.send(RejectRequest(request_id="req-1", by=SEC2, comment="no change freeze waiver"))
    assert [e.event_type for e in d.events] == ["RequestRejected"] and not d.commands
    assert run.state.status == "rejected"
    assert run.state.error == "rejected by sue: no change freeze waiver"
    assert not run.timers
    assert run.send(ApproveRequest(request_id="req-1", by=SEC)).empty


def test_stage_expiry_ends_it_expired() -> None:
    run = _run()
    run.send(ApproveRequest(request_id="req-1", by=ANA))
    run.send(ApproveRequest(request_id="req-1", by=BEN))
    run.fire("approval_expiry")
    assert run.state.status == "expired"
    assert run.state.error == "approval expired at stage 2"
    assert approval_of(run).stages[1].status == "expired"


def test_timer_of_a_finished_stage_does_nothing() -> None:
    run = _run()
    stage_one = next(iter(run.timers.values()))
    run.send(ApproveRequest(request_id="req-1", by=ANA))
    run.send(ApproveRequest(request_id="req-1", by=BEN))
    run.now = stage_one.due_at
    assert run.send(stage_one.fired).empty


def test_not_an_approver_and_second_decision_are_refused_with_codes() -> None:
    run = _run()
    d = run.send(ApproveRequest(request_id="req-1", by=Requester(id="eve")))
    assert event(d.events, 0, ApprovalRefused).code == "not_approver"
    run.send(ApproveRequest(request_id="req-1", by=ANA))
    d = run.send(RejectRequest(request_id="req-1", by=ANA))
    assert event(d.events, 0, ApprovalRefused).code == "already_decided"
    assert run.state.status == "awaiting_approval"


def test_n_of_a_team_and_the_requester_never_counts() -> None:
    stages = [{"approvers": {"teams": ["security", "payments"]}, "rule": "n", "n": 2}]
    run = Run(automated_item(approval=stages))
    run.submit()
    run.send(ApproveRequest(request_id="req-1", by=ALICE))  # in payments, but hers
    assert run.types()[-1] == "ApprovalRefused"
    run.send(ApproveRequest(request_id="req-1", by=SEC))
    one_of_two = run.state
    assert one_of_two.status == "awaiting_approval"
    run.send(ApproveRequest(request_id="req-1", by=SEC2))
    assert run.state.status == "in_progress"


def _load(tmp_path: Path, approval: object) -> list[str]:
    doc = yaml.safe_load(Path("catalog/debug-echo.yaml").read_text())
    doc["approval"] = approval
    path = tmp_path / "item.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return [str(p) for p in load_file(path).errors]


def test_load_time_errors_name_file_and_line(tmp_path: Path) -> None:
    assert _load(tmp_path, TWO_STAGES) == []
    unknown = _load(tmp_path, [{"approvers": {"users": ["x"]}, "rule": "most"}])
    assert len(unknown) == 1 and "'most' is not one of any, all, n" in unknown[0]

    base = Path("catalog/debug-echo.yaml").read_text()
    assert "approval:" not in base
    path = tmp_path / "staged.yaml"
    path.write_text(
        base.rstrip("\n") + "\napproval:\n"
        "  - approvers: {users: [ana]}\n"
        "    rule: n\n"
        "  - name: nobody\n"
        "    approvers: {}\n"
    )
    first = len(base.rstrip("\n").splitlines()) + 2
    assert [str(e) for e in load_file(path).errors] == [
        f"{path}:{first} approval[0].n: rule: n needs n: (how many must approve)",
        f"{path}:{first + 3} approval[1].approvers: the stage names no approver",
    ]


def test_resource_owner_team_and_manager_are_resolved_when_the_stage_begins() -> None:
    stages = [{"approvers": {"resource_owner_team": True, "requester_manager": True}}]
    run = Run(automated_item(approval=stages))
    run.send(
        SubmitRequest(
            request_id="req-1",
            item_id="pg-db",
            inputs={"name": "orders"},
            requester=ALICE.model_copy(update={"manager": "carol"}),
        )
    )
    approval = run.state.approval
    assert approval is not None
    # provisioning: the resource will belong to the requester's first team
    assert (approval.approver_teams, approval.approver_users) == (("payments",), ("carol",))


# --- a stage nobody can complete is refused at submission, not left to expire ---------------

MANAGER_THEN_SECURITY = [
    {"name": "manager", "approvers": {"requester_manager": True}},
    {"name": "security", "approvers": {"teams": ["security"]}},
]


def _submit(approval: list[dict[str, Any]], requester: Requester) -> Run:
    run = Run(automated_item(approval=approval))
    run.send(
        SubmitRequest(
            request_id="req-1", item_id="pg-db", inputs={"name": "orders"}, requester=requester
        )
    )
    return run


def test_an_unknown_manager_refuses_the_request_at_once_naming_why() -> None:
    run = _submit(MANAGER_THEN_SECURITY, ALICE)  # her token carries no manager
    assert run.types() == ["RequestSubmitted", "RequestRejected"]
    assert run.state.status == "rejected" and not run.timers
    rejected = event(run.events, -1, RequestRejected)
    assert rejected.by.id == "pao-orchestrator"
    assert rejected.comment == (
        "approval stage 1 (manager): nobody can approve it: it names the requester's"
        " manager, and alice has no manager on record (the token's manager claim)"
    )

    with_manager = _submit(MANAGER_THEN_SECURITY, ALICE.model_copy(update={"manager": "carol"}))
    assert with_manager.state.status == "awaiting_approval"
    assert approval_of(with_manager).approver_users == ("carol",)


def test_later_stages_are_checked_at_submission_too() -> None:
    # stage 2 needs all of ana and the manager: without a manager it can never complete
    stages: list[dict[str, Any]] = [
        {"approvers": {"teams": ["security"]}},
        {
            "name": "owners",
            "approvers": {"users": ["ana"], "requester_manager": True},
            "rule": "all",
        },
    ]
    run = _submit(stages, ALICE)
    assert run.types()[-1] == "RequestRejected"
    assert (event(run.events, -1, RequestRejected).comment or "").startswith(
        "approval stage 2 (owners) needs all of its approvers, and it names the requester's"
    )


def test_a_stage_only_the_requester_could_approve_and_too_few_for_n_are_refused() -> None:
    mine = _submit([{"approvers": {"users": ["alice"]}}], ALICE)
    assert event(mine.events, -1, RequestRejected).comment == (
        "approval stage 1: nobody can approve it: it names alice, who requested it"
        " (nobody approves their own request)"
    )
    few = _submit([{"approvers": {"users": ["ana", "alice"]}, "rule": "n", "n": 2}], ALICE)
    assert event(few.events, -1, RequestRejected).comment == (
        "approval stage 1 needs 2 approvals and only 1 approver(s) can give one (ana)"
    )
    # any of ana or the requester: ana can, so it waits for her
    assert _submit([{"approvers": {"users": ["ana", "alice"]}}], ALICE).state.status == (
        "awaiting_approval"
    )

"""The pure lifecycle: decide + evolve, every path, no I/O."""

from __future__ import annotations

from datetime import timedelta

from pao_catalog_model.retry import RetryPolicy
from pao_common.messages import (
    ActionStarted,
    ApproveRequest,
    CancelRequest,
    CompensateAction,
    ExecuteAction,
    RejectRequest,
    Requester,
    SubmitRequest,
    TicketResolved,
)
from pao_orchestrator.domain import policy
from pao_orchestrator.domain.codec import decode, encode
from pao_orchestrator.domain.events import (
    ApprovalRefused,
    RequestRejectedInvalid,
    StepRetryScheduled,
)
from pao_orchestrator.domain.state import TICKET_STEP

from tests.orchestrator.items import (
    ALICE,
    BOB_APPROVER,
    MALLORY,
    Run,
    automated_item,
    build_item,
    event,
    manual_item,
    provision_item,
)

HOST = {"host": "db-1.internal"}


def test_automated_happy_path_runs_steps_in_order_with_rendered_inputs() -> None:
    run = Run(automated_item())
    first = run.submit({"name": "orders"})
    assert run.types() == ["RequestSubmitted", "FulfilmentStarted", "StepDispatched"]
    create = first.commands[0]
    assert isinstance(create, ExecuteAction)
    assert create.action_type == "debug.log"
    # size defaulted by the form and rendered to its native type
    assert create.inputs == {"message": "create orders", "size": 10}
    assert create.timeout_s == 30
    assert run.state.status == "in_progress"
    assert run.state.item_version == "1.2.0"

    run.send(ActionStarted(command_id=create.command_id, request_id="req-1", step_id="create"))
    assert run.decisions[-1].empty  # started is implied by dispatch

    nxt = run.succeed(HOST)
    # backup is skipped (when: inputs.backup is false), grant sees create's outputs
    assert [e.event_type for e in nxt.events] == ["StepSucceeded", "StepSkipped", "StepDispatched"]
    grant = nxt.commands[0]
    assert (grant.step_id, grant.inputs) == ("grant", {"host": "db-1.internal"})
    run.succeed()
    run.succeed()
    state = run.state
    assert state.status == "completed"
    assert state.outputs == {"host": "db-1.internal", "size": 10}
    assert [s.status for s in state.steps] == ["succeeded", "skipped", "succeeded", "succeeded"]
    assert not run.timers  # every timeout timer was cancelled with its answer


def test_when_true_runs_the_conditional_step() -> None:
    run = Run(automated_item())
    run.submit({"name": "orders", "backup": True})
    d = run.succeed(HOST)
    assert d.commands[0].step_id == "backup"


def test_invalid_inputs_fail_the_request_with_field_errors() -> None:
    run = Run(automated_item())
    d = run.submit({"size": "big"})
    assert run.types() == ["RequestSubmitted", "RequestRejectedInvalid"]
    assert not d.commands
    errors = {p.field for p in event(d.events, 1, RequestRejectedInvalid).errors}
    assert "name" in errors
    assert run.state.status == "failed"
    assert "name" in (run.state.error or "")


def test_unknown_item_fails_naming_item_id() -> None:
    run = Run(None)
    run.submit(item_id="nope")
    assert run.state.status == "failed"
    assert event(run.events, 1, RequestRejectedInvalid).errors[0].field == "item_id"


def test_duplicate_submit_changes_nothing() -> None:
    run = Run(automated_item())
    run.submit()
    assert run.submit().empty


def test_retry_with_backoff_only_for_retryable_failures() -> None:
    retry = {"attempts": 3, "backoff_s": 2, "max_backoff_s": 3, "jitter": True}
    run = Run(automated_item(retry=retry))
    run.submit()
    first = run.last_command()
    d = run.fail("503", retryable=True)
    assert [e.event_type for e in d.events] == ["StepRetryScheduled"]
    scheduled = event(d.events, 0, StepRetryScheduled)
    expected = RetryPolicy.model_validate(retry).delay_s(1, first.command_id)
    assert scheduled.delay_s == expected
    assert 1.0 <= expected <= 2.0  # base 2s, half of it jittered, from the command id
    assert run.step("create").status == "running"

    d = run.fire("retry")
    second = d.commands[0]
    assert second.attempt == 2 and second.command_id != first.command_id
    run.fail("503", retryable=True)
    d2 = event(run.decisions[-1].events, 0, StepRetryScheduled)
    assert d2.delay_s <= 3  # capped by max_backoff_s
    run.fire("retry")
    run.fail("503 again", retryable=True)  # third attempt: out of attempts
    assert run.step("create").status == "failed"
    assert run.step("create").attempts == 3
    assert run.state.status == "failed"


def test_non_retryable_failure_is_not_retried() -> None:
    run = Run(automated_item(retry={"attempts": 5}))
    run.submit()
    run_url = {"run_url": "https://ci.example/runs/7"}
    run.fail("bad input", retryable=False, outputs=run_url, error_type="ActionError")
    assert "StepRetryScheduled" not in run.types()
    assert run.state.status == "failed"
    assert run.state.error == "step create failed: bad input"
    # What the executor reported with the failure stays on the step (the request shows it).
    assert run.step("create").outputs == run_url


def test_stale_results_of_an_old_attempt_are_ignored() -> None:
    run = Run(automated_item(retry={"attempts": 2, "jitter": False}))
    run.submit()
    old = run.last_command()
    run.fail("flaky", retryable=True)
    run.fire("retry")
    before = len(run.events)
    assert run.succeed(HOST, command=old).empty  # the first attempt answers late
    assert run.fail("late", command=old).empty
    assert len(run.events) == before
    run.succeed(HOST)  # the current attempt
    assert run.step("create").status == "succeeded"


def test_step_timeout_retries_then_fails_and_late_answer_is_stale() -> None:
    run = Run(automated_item(retry={"attempts": 2, "backoff_s": 1, "jitter": False}))
    run.submit()
    first = run.last_command()
    d = run.fire("step_timeout")
    assert run.now - (run.state.submitted_at or run.now) == timedelta(
        seconds=30 + policy.TIMEOUT_GRACE_S
    )
    assert [e.event_type for e in d.events] == ["StepTimedOut", "StepRetryScheduled"]
    run.fire("retry")
    assert run.succeed(HOST, command=first).empty
    d = run.fire("step_timeout")
    assert [e.event_type for e in d.events][:1] == ["StepTimedOut"]
    assert run.step("create").status == "timed_out"
    assert run.state.status == "failed"


def test_failure_rolls_back_completed_steps_in_reverse_order() -> None:
    run = Run(automated_item())
    run.submit({"name": "orders", "backup": True})
    run.succeed(HOST)  # create
    run.succeed({"id": "b-1"})  # backup
    d = run.fail("permission denied")  # grant fails
    assert [e.event_type for e in d.events] == ["StepFailed", "RollbackStarted", "StepDispatched"]
    assert run.state.status == "rolling_back"
    comp = d.commands[0]
    assert isinstance(comp, CompensateAction)
    assert (comp.step_id, comp.inputs, comp.outputs) == (
        "backup",
        {"message": "unbackup"},
        {"id": "b-1"},
    )
    d = run.succeed()
    comp2 = d.commands[0]
    assert (comp2.step_id, comp2.action_type, comp2.inputs) == (
        "create",
        "debug.log",
        {"message": "drop orders"},
    )
    run.succeed()
    state = run.state
    assert state.status == "rolled_back"
    assert [s.status for s in state.steps] == ["compensated", "compensated", "failed", "pending"]
    assert state.error == "step grant failed: permission denied"


def test_compensation_failure_ends_failed_for_an_operator() -> None:
    run = Run(automated_item())
    run.submit()
    run.succeed(HOST)
    run.fail("nope")  # grant
    run.fail("cannot drop")  # compensation of create
    assert run.state.status == "failed"
    assert "rollback failed for create" in (run.state.error or "")


def test_fallback_to_manual_after_rollback() -> None:
    run = Run(automated_item(fallback=True))
    run.submit()
    run.succeed(HOST)
    run.fail("quota")
    d = run.succeed()  # create compensated
    assert [e.event_type for e in d.events] == [
        "StepCompensated",
        "RequestRolledBack",
        "FallbackToManual",
        "StepAdded",
        "StepDispatched",
    ]
    ticket_cmd = d.commands[0]
    assert ticket_cmd.action_type == "jira" and ticket_cmd.step_id == TICKET_STEP
    assert ticket_cmd.inputs["summary"] == "Database orders for alice"
    assert ticket_cmd.inputs["description"] == "step grant failed: quota"
    assert run.state.status == "fallback_to_manual"
    run.succeed({"key": "OPS-7", "url": "https://jira/OPS-7"})
    assert run.state.ticket is not None and run.state.ticket.key == "OPS-7"
    run.send(TicketResolved(request_id="req-1", ticket_key="OPS-7", outcome="done"))
    assert run.status() == "completed"


def test_fallback_without_anything_to_roll_back_goes_manual_directly() -> None:
    run = Run(automated_item(fallback=True))
    run.submit()
    run.fail("no capacity")  # first step fails: nothing ran
    assert "RollbackStarted" not in run.types()
    assert run.state.status == "fallback_to_manual"


def test_item_outputs_that_do_not_render_roll_back_what_ran() -> None:
    # Finding 2: the workspace applied, then ``steps.provision.outputs.endpoint`` was missing.
    run = Run(provision_item())
    run.submit()
    run.succeed({"address": "db-1.internal"})  # provision, with no ``endpoint``
    d = run.succeed()  # notify: every step done, the outputs do not render
    assert [e.event_type for e in d.events] == [
        "StepSucceeded",
        "AutomationFailed",
        "RollbackStarted",
        "StepDispatched",
    ]
    undo = d.commands[0]
    assert isinstance(undo, CompensateAction)
    assert (undo.step_id, undo.inputs) == ("provision", {"workspace": "pg-orders", "destroy": True})
    assert undo.outputs == {"address": "db-1.internal"}
    assert run.state.status == "rolling_back"
    run.succeed()
    state = run.state
    assert state.status == "rolled_back"
    assert [s.status for s in state.steps] == ["compensated", "succeeded"]
    assert "item outputs" in (state.error or "") and "endpoint" in (state.error or "")


def test_item_outputs_that_do_not_render_fall_back_to_manual_after_rollback() -> None:
    run = Run(provision_item(fallback=True))
    run.submit()
    run.succeed({"address": "db-1.internal"})
    run.succeed()
    d = run.succeed()  # provision destroyed
    assert [e.event_type for e in d.events] == [
        "StepCompensated",
        "RequestRolledBack",
        "FallbackToManual",
        "StepAdded",
        "StepDispatched",
    ]
    ticket = d.commands[0]
    assert ticket.step_id == TICKET_STEP
    assert "endpoint" in ticket.inputs["description"]  # the ticket says what went wrong
    assert run.state.status == "fallback_to_manual"


def test_item_outputs_that_do_not_render_with_nothing_to_undo_fail() -> None:
    item = build_item(
        {
            "mode": "automated",
            "automated": {
                "steps": [{"id": "look", "action": "debug.log", "with": {"message": "hi"}}],
                "outputs": {"endpoint": "{{ steps.look.outputs.endpoint }}"},
            },
        }
    )
    run = Run(item)
    run.submit()
    run.succeed()
    assert "RollbackStarted" not in run.types()
    assert run.state.status == "failed"
    assert (run.state.error or "").startswith("item outputs:")


def test_manual_item_creates_a_ticket_and_completes_when_resolved() -> None:
    run = Run(manual_item())
    d = run.submit()
    cmd = d.commands[0]
    assert (cmd.action_type, cmd.step_id) == ("jira", TICKET_STEP)
    assert cmd.inputs["project"] == "OPS"
    assert cmd.inputs["description"] == "manual request"
    run.succeed({"key": "OPS-1", "url": "https://jira/OPS-1"})
    assert run.state.status == "in_progress"
    assert run.state.ticket is not None and run.state.ticket.url == "https://jira/OPS-1"
    # another ticket's resolution is not ours
    assert run.send(TicketResolved(request_id="req-1", ticket_key="OPS-2", outcome="done")).empty
    run.send(TicketResolved(request_id="req-1", ticket_key="OPS-1", outcome="done"))
    assert run.status() == "completed"
    assert run.state.outputs == {"ticket_key": "OPS-1", "ticket_url": "https://jira/OPS-1"}


def test_manual_ticket_wont_do_fails() -> None:
    run = Run(manual_item())
    run.submit()
    run.succeed({"key": "OPS-1"})
    run.send(
        TicketResolved(request_id="req-1", ticket_key="OPS-1", outcome="wont_do", reason="dup")
    )
    assert run.state.status == "failed"
    assert run.state.error == "ticket OPS-1: dup"


def test_manual_ticket_creation_retries_transient_errors() -> None:
    run = Run(manual_item())
    run.submit()
    run.fail("jira 503", retryable=True)
    d = run.fire("retry")
    assert d.commands[0].attempt == 2
    run.fail("jira 400")
    assert run.state.status == "failed"


APPROVAL = {"required": True, "approvers": {"teams": ["dba"]}, "expires_after": "2h"}


def test_approval_by_an_approver_starts_fulfilment() -> None:
    run = Run(automated_item(approval=APPROVAL))
    d = run.submit()
    assert run.state.status == "awaiting_approval"
    assert not d.commands
    assert d.timers[0].due_at == run.now + timedelta(hours=2)
    d = run.send(ApproveRequest(request_id="req-1", by=MALLORY))
    assert [e.event_type for e in d.events] == ["ApprovalRefused"]
    assert run.state.status == "awaiting_approval"
    assert run.state.approval is not None and run.state.approval.refused == ("mallory",)
    d = run.send(ApproveRequest(request_id="req-1", by=BOB_APPROVER, comment="ok"))
    assert [e.event_type for e in d.events][:3] == [
        "RequestApproved",
        "FulfilmentStarted",
        "StepDispatched",
    ]
    assert run.state.approval.decided_by == "bob"
    assert not [t for t in run.timers.values() if t.fired.kind == "approval_expiry"]


def test_manager_approves_and_a_requester_never_approves_their_own_request() -> None:
    approval = {
        "required": True,
        "approvers": {"teams": ["payments"], "requester_manager": True},
        "expires_after": "2h",
    }
    run = Run(automated_item(approval=approval))
    run.send(
        SubmitRequest(
            request_id="req-1",
            item_id="db",
            inputs={"name": "orders"},
            requester=ALICE.model_copy(update={"manager": "carol"}),
        )
    )
    assert run.state.approval is not None and run.state.approval.approver_users == ("carol",)
    # Alice is in an approver team, but it is her own request.
    d = run.send(ApproveRequest(request_id="req-1", by=ALICE))
    assert [e.event_type for e in d.events] == ["ApprovalRefused"]
    assert "approved by someone else" in event(d.events, 0, ApprovalRefused).reason
    d = run.send(ApproveRequest(request_id="req-1", by=Requester(id="carol")))
    assert d.events[0].event_type == "RequestApproved"


def test_platform_admin_may_approve() -> None:
    run = Run(automated_item(approval=APPROVAL))
    run.submit()
    admin = Requester(id="root", roles=("platform-admin",))
    d = run.send(ApproveRequest(request_id="req-1", by=admin))
    assert d.events[0].event_type == "RequestApproved"


def test_rejection_and_expiry() -> None:
    run = Run(automated_item(approval=APPROVAL))
    run.submit()
    run.send(RejectRequest(request_id="req-1", by=MALLORY))
    assert run.state.status == "awaiting_approval"
    run.send(RejectRequest(request_id="req-1", by=BOB_APPROVER, comment="too big"))
    assert run.status() == "rejected"
    assert run.state.error == "rejected by bob: too big"

    run2 = Run(automated_item(approval=APPROVAL), request_id="req-2")
    run2.submit()
    run2.fire("approval_expiry")
    assert run2.state.status == "expired"
    assert run2.send(ApproveRequest(request_id="req-2", by=BOB_APPROVER)).empty


def test_approval_when_condition() -> None:
    approval = {**APPROVAL, "when": "inputs.size > 50"}
    run = Run(automated_item(approval=approval))
    run.submit({"name": "small", "size": 5})
    assert run.state.status == "in_progress"
    run2 = Run(automated_item(approval=approval))
    run2.submit({"name": "big", "size": 500})
    assert run2.state.status == "awaiting_approval"


def test_cancel_while_awaiting_approval() -> None:
    run = Run(manual_item(approval=APPROVAL))
    run.submit()
    d = run.send(CancelRequest(request_id="req-1", by=ALICE, reason="changed my mind"))
    assert run.state.status == "cancelled"
    assert d.cancel_timers


def test_cancel_in_flight_waits_for_the_answer_then_rolls_back() -> None:
    run = Run(automated_item())
    run.submit()
    run.succeed(HOST)  # create done, grant in flight
    d = run.send(CancelRequest(request_id="req-1", by=ALICE))
    assert [e.event_type for e in d.events] == ["CancellationRequested"]
    assert not d.commands
    d = run.succeed()  # grant finishes anyway: it is rolled back too, in reverse order
    assert [c.step_id for c in d.commands] == ["grant"]
    assert isinstance(d.commands[0], CompensateAction)
    run.succeed()
    assert run.last_command().step_id == "create"
    run.succeed()
    assert run.state.status == "cancelled"
    assert [s.status for s in run.state.steps][:3] == ["compensated", "skipped", "compensated"]


def test_cancel_whose_rollback_fails_ends_failed_for_an_operator() -> None:
    run = Run(automated_item())
    run.submit()
    run.succeed(HOST)  # create done, grant in flight
    run.send(CancelRequest(request_id="req-1", by=ALICE))
    run.succeed()  # grant finishes: rolled back first
    run.succeed()  # grant compensated
    run.fail("cannot drop")  # compensation of create fails: something is left behind
    assert run.state.status == "failed"
    assert run.state.error == "cancelled; rollback failed for create: needs an operator"


def test_cancel_while_waiting_for_a_retry_stops_at_once() -> None:
    run = Run(automated_item(retry={"attempts": 3}))
    run.submit()
    run.fail("flaky", retryable=True)
    run.send(CancelRequest(request_id="req-1", by=ALICE))
    assert run.state.status == "cancelled"
    assert run.step("create").status == "cancelled"
    assert run.fire("retry").empty


def test_cancel_in_flight_that_fails_does_not_retry_and_never_falls_back() -> None:
    run = Run(automated_item(retry={"attempts": 3}, fallback=True))
    run.submit()
    run.send(CancelRequest(request_id="req-1", by=ALICE))
    run.fail("flaky", retryable=True)
    assert run.state.status == "cancelled"
    assert "FallbackToManual" not in run.types()


def test_results_after_the_end_are_ignored() -> None:
    run = Run(manual_item())
    run.submit()
    cmd = run.last_command()
    run.send(CancelRequest(request_id="req-1", by=ALICE))
    assert run.state.status == "cancelled"
    assert run.succeed({"key": "OPS-9"}, command=cmd).empty


def test_ids_are_deterministic_so_deciding_twice_gives_the_same_decision() -> None:
    a, b = Run(automated_item()), Run(automated_item())
    da, db_ = a.submit(), b.submit()
    assert da.commands == db_.commands
    assert [encode(e) for e in da.events] == [encode(e) for e in db_.events]


def test_events_round_trip_through_the_codec() -> None:
    run = Run(automated_item(fallback=True))
    run.submit({"name": "orders", "backup": True})
    run.succeed(HOST)
    run.fail("x", retryable=True)
    run.fail("y")
    for e in run.events:
        assert decode(*encode(e)) == e

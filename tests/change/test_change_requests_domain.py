"""ServiceNow change requests in the pure domain: opened where the fulfilment would start,
awaited (approved: it starts; rejected: it ends rejected), closed with the outcome when
the request ends; ServiceNow down: the request waits with the reason, retried until it
answers. Hostile ``change_requests:`` sections fail with file:line."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pao_common.change_calendar import ChangeCalendar, parse_calendar
from pao_common.errors import InvalidChangeCalendar
from pao_common.messages import CancelRequest, ChangeRequestDecided, Requester
from pao_orchestrator.domain.change_request_decide import CLOSE_ACTION, OPEN_ACTION
from pao_orchestrator.domain.state import CHANGE_STEP, ChangeRequestState

from tests.change.test_change_calendar import OPS, CalendarRun, at, deploy_item

CALENDAR = """\
schemaVersion: "1.0"
kind: ChangeCalendar
version: "t1"
timezone: UTC
change_requests:
  classes: [normal, major]
  planned_duration: 2h
  assignment_group: Change Management
"""
OPENED = {"sys_id": "a" * 32, "number": "CHG0010001", "approval": "requested", "state": "-4"}


def calendar(text: str = CALENDAR) -> ChangeCalendar:
    return parse_calendar(text, "cal.yaml")


def opened_run(environment: str = "staging") -> CalendarRun:
    run = CalendarRun(deploy_item(), calendar(), at("2026-05-04T10:00"))
    run.submit_as(OPS, environment)
    assert run.state.status == "awaiting_change_approval"
    command = run.last_command()
    assert command.action_type == OPEN_ACTION and command.step_id == CHANGE_STEP
    run.succeed(OPENED)
    return run


def change_request(run: CalendarRun) -> ChangeRequestState:
    """The request's change request, which it has by now."""
    cr = run.state.change_request
    assert cr is not None
    return cr


def decided(
    run: CalendarRun, approval: Literal["approved", "rejected"], comment: str | None = None
) -> None:
    run.send(
        ChangeRequestDecided(
            request_id=run.request_id,
            sys_id=OPENED["sys_id"],
            number="CHG0010001",
            approval=approval,
            by="carla.cab",
            comment=comment,
        )
    )


def test_a_normal_change_waits_for_its_change_request_then_runs_and_closes_successful() -> None:
    run = CalendarRun(deploy_item(), calendar(), at("2026-05-04T10:00"))
    run.submit_as(OPS, "staging")
    fields = run.last_command().inputs
    assert fields["correlation_id"] == run.request_id
    assert fields["correlation_display"] == "PAO"
    assert fields["type"] == "normal" and fields["risk"] == "3"  # moderate
    assert (fields["start_date"], fields["end_date"]) == (
        "2026-05-04 08:00:00",  # 10:00 in Berlin, as UTC
        "2026-05-04 10:00:00",
    )
    assert fields["assignment_group"] == "Change Management"
    assert "app: shop" in fields["description"]
    assert run.types()[-1] == "ChangeRequestOpening"
    assert not [c for c in run.commands() if c.action_type.startswith("debug")]

    run.succeed(OPENED)
    opened = run.state
    assert opened.status == "awaiting_change_approval"
    assert opened.change_request is not None
    assert opened.change_request.number == "CHG0010001"

    decided(run, "approved")
    assert run.types()[-3:] == ["ChangeRequestApproved", "FulfilmentStarted", "StepDispatched"]
    run.succeed()  # the deploy step
    assert run.state.status == "completed"
    close = run.last_command()
    assert close.action_type == CLOSE_ACTION
    assert close.inputs["state"] == "3" and close.inputs["close_code"] == "successful"
    assert close.inputs["sys_id"] == OPENED["sys_id"]
    run.succeed({"sys_id": OPENED["sys_id"], "state": "3", "close_code": "successful"})
    assert run.types()[-1] == "ChangeRequestClosed"
    assert run.state.status == "completed"
    assert change_request(run).close_code == "successful"


def test_a_major_change_is_high_risk_and_an_emergency_override_opens_an_emergency_change() -> None:
    on_call = Requester(id="ivan", teams=("platform",), roles=("emergency-change",))
    text = CALENDAR.replace(
        "change_requests:", "emergency: {role: emergency-change}\nchange_requests:"
    )
    run = CalendarRun(deploy_item(), calendar(text), at("2026-05-04T10:00"))
    run.submit_as(on_call, "production", reason="INC-1: checkout down")
    fields = run.last_command().inputs
    assert fields["risk"] == "2" and fields["type"] == "emergency"
    assert "INC-1: checkout down" in fields["description"]


def test_a_failed_request_closes_its_change_request_unsuccessful_with_the_failure() -> None:
    run = opened_run()
    decided(run, "approved")
    run.fail("deploy exploded")
    assert run.state.status == "failed"
    close = run.last_command()
    assert close.action_type == CLOSE_ACTION
    assert close.inputs["close_code"] == "unsuccessful"
    assert "deploy exploded" in close.inputs["close_notes"]


def test_a_rejected_change_request_ends_the_request_rejected_and_cancels_it() -> None:
    run = opened_run()
    decided(run, "rejected", comment="not this week")
    assert run.state.status == "rejected"
    assert "CHG0010001 was rejected by carla.cab: not this week" in (run.state.error or "")
    close = run.last_command()
    assert close.action_type == CLOSE_ACTION and close.inputs["state"] == "4"
    assert not [c for c in run.commands() if c.action_type.startswith("debug")]


def test_servicenow_down_the_request_waits_with_the_reason_and_proceeds_when_it_answers() -> None:
    run = CalendarRun(deploy_item(), calendar(), at("2026-05-04T10:00"))
    run.submit_as(OPS, "staging")
    for attempt in range(1, 6):
        run.fail("ServiceNow POST answered HTTP 500: boom", retryable=True)
        cr = run.state.change_request
        assert run.state.status == "awaiting_change_approval"
        assert cr is not None and cr.last_error is not None and "HTTP 500" in cr.last_error
        assert cr.retry_at is not None
        run.fire("change_request_retry")
        assert run.last_command().attempt == attempt + 1
    run.succeed(OPENED)
    assert change_request(run).last_error is None
    decided(run, "approved")
    assert run.state.status == "in_progress"


def test_an_unanswered_opening_times_out_and_is_sent_again() -> None:
    run = CalendarRun(deploy_item(), calendar(), at("2026-05-04T10:00"))
    run.submit_as(OPS, "staging")
    first = run.last_command()
    run.fire("change_request_timeout")
    assert "no answer" in (change_request(run).last_error or "")
    run.fire("change_request_retry")
    second = run.last_command()
    assert second.attempt == 2 and second.command_id != first.command_id
    run.succeed(OPENED, command=first)  # the late answer of the first attempt: stale
    assert change_request(run).sys_id is None
    run.succeed(OPENED)
    assert change_request(run).sys_id == OPENED["sys_id"]


def test_a_refusal_fails_the_request_and_a_decision_is_handled_once() -> None:
    run = CalendarRun(deploy_item(), calendar(), at("2026-05-04T10:00"))
    run.submit_as(OPS, "staging")
    run.fail("ServiceNow refused POST (HTTP 400): Invalid field", retryable=False)
    assert run.state.status == "failed"
    assert run.state.error == "change request: ServiceNow refused POST (HTTP 400): Invalid field"

    run = opened_run()
    decided(run, "approved")
    count = len(run.events)
    decided(run, "approved")
    decided(run, "rejected")
    assert len(run.events) == count


def test_a_decision_before_the_opening_answer_counts_and_cancel_cancels_the_change() -> None:
    run = CalendarRun(deploy_item(), calendar(), at("2026-05-04T10:00"))
    run.submit_as(OPS, "staging")
    opening = run.last_command()
    decided(run, "approved")  # the webhook was faster than the executor's answer
    assert run.state.status == "in_progress"
    run.succeed(OPENED, command=opening)
    assert change_request(run).number == "CHG0010001"
    assert change_request(run).approval == "approved"

    run = opened_run()
    run.send(CancelRequest(request_id=run.request_id, by=OPS, reason="not needed"))
    assert run.state.status == "cancelled"
    close = run.last_command()
    assert close.action_type == CLOSE_ACTION and close.inputs["state"] == "4"
    assert "not needed" in close.inputs["close_notes"]


def test_closing_is_retried_after_the_request_ended() -> None:
    run = opened_run()
    decided(run, "approved")
    run.succeed()
    run.fail("ServiceNow PATCH answered HTTP 503", retryable=True)
    assert run.state.status == "completed"
    run.fire("change_request_retry")
    assert run.last_command().action_type == CLOSE_ACTION
    run.succeed({"state": "3", "close_code": "successful"})
    assert change_request(run).phase == "closed"


def test_standard_changes_and_items_out_of_scope_open_no_change_request() -> None:
    text = CALENDAR.replace("classes: [normal, major]", "classes: [major]")
    run = CalendarRun(deploy_item(), calendar(text), at("2026-05-04T10:00"))
    run.submit_as(OPS, "staging")  # normal: not listed
    assert run.state.status == "in_progress"
    assert run.state.change_request is None


@pytest.mark.parametrize(
    ("section", "line", "problem"),
    [
        ("  classes: [standard]\n", 7, "standard changes are pre-approved"),
        ("  planned_duration: soon\n", 7, "not a duration"),
        ("  system: remedy\n", 7, "Input should be 'servicenow'"),
        ("  risk: {normal: extreme}\n", 7, "Input should be"),
    ],
)
def test_hostile_change_request_sections_fail_with_file_and_line(
    section: str, line: int, problem: str
) -> None:
    text = CALENDAR.split("change_requests:")[0] + "\nchange_requests:\n" + section
    with pytest.raises(InvalidChangeCalendar) as caught:
        parse_calendar(text, "cal.yaml")
    assert any(p.startswith(f"cal.yaml:{line}") and problem in p for p in caught.value.problems), (
        caught.value.problems
    )


def test_pao_policy_preview_names_the_change_request() -> None:
    from click.testing import CliRunner
    from pao_cli.main import main

    args = ["policy", "preview", "--at", "2026-03-15", "production-access"]
    shown = CliRunner().invoke(main, [*args, "--example", "read-replica", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["change_request"] == {
        "system": "servicenow",
        "risk": "moderate",
        "type": "normal",
        "planned_duration": "4h",
        "assignment_group": "Change Management",
    }
    text = CliRunner().invoke(main, [*args, "--example", "read-replica"]).output
    assert "change request: opened in servicenow (risk moderate, planned 4h)" in text
    standard = CliRunner().invoke(
        main, ["policy", "preview", "--at", "2026-03-15", "debug-echo", "--input", "message=x"]
    )
    assert "change request" not in standard.output, standard.output

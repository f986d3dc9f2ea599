"""The change calendar in the pure domain (the clock is an input): a major production
request in the restricted period is held in ``scheduled`` until the window ends, then starts
by itself; outside it runs at once; an emergency override runs at once with its reason in
the log; escalate adds a stage; deny rejects. Hostile calendars fail with file:line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pao_catalog_model.model import CatalogItem, parse_item
from pao_common.change_calendar import (
    ChangeCalendar,
    load_calendar,
    parse_calendar,
    parse_instant,
    verdict,
)
from pao_common.errors import InvalidChangeCalendar
from pao_common.messages import (
    ApproveRequest,
    CancelRequest,
    EmergencyOverride,
    Requester,
    SubmitRequest,
)
from pao_orchestrator.domain.decide import decide
from pao_orchestrator.domain.decision import Decision, DecisionContext, Inbound
from pao_orchestrator.projection import view_row

from tests.orchestrator.items import Run

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_calendar(REPO / "policies" / "change-calendar.yaml")
OPS = Requester(id="olga", teams=("platform",), roles=("engineer",))
ON_CALL = Requester(id="ivan", teams=("platform",), roles=("engineer", "emergency-change"))
CAB = Requester(id="carla", teams=("change-advisory-board",))
# 1 February 2027 00:00 in Europe/Berlin: the end of the 2026/27 restricted period
FEB_1 = datetime(2027, 1, 31, 23, 0, tzinfo=UTC)


def deploy_item(**extra: Any) -> CatalogItem:
    document: dict[str, Any] = {
        "schemaVersion": "2.0",
        "metadata": {
            "id": "app-deploy",
            "name": "Application deployment",
            "version": "1.0.0",
            "owner": "platform",
            "category": "apps",
        },
        "presentation": {
            "fields": [
                {"id": "app", "type": "string", "label": "App", "required": True},
                {
                    "id": "environment",
                    "type": "select",
                    "label": "Environment",
                    "options": ["staging", "production"],
                    "default": "staging",
                },
            ]
        },
        "change_class": {
            "default": "normal",
            "rules": [{"when": "inputs.environment == 'production'", "class": "major"}],
        },
        "fulfillment": {
            "mode": "automated",
            "automated": {
                "steps": [
                    {"id": "deploy", "action": "debug.log", "with": {"msg": "{{ inputs.app }}"}}
                ]
            },
        },
        **extra,
    }
    return parse_item(document)


class CalendarRun(Run):
    """``Run`` whose decisions see a change calendar."""

    def __init__(self, item: CatalogItem, calendar: ChangeCalendar | None, at: datetime) -> None:
        super().__init__(item)
        self.calendar = calendar
        self.now = at

    def send(self, message: Inbound) -> Decision:
        ctx = DecisionContext(
            now=self.now, item=self.item, system={"environment": "test"}, calendar=self.calendar
        )
        decision = decide(self.state, message, ctx)
        self.events.extend(decision.events)
        self.decisions.append(decision)
        for t in decision.timers:
            self.timers[t.timer_id] = t
        for timer_id in decision.cancel_timers:
            self.timers.pop(timer_id, None)
        return decision

    def submit_as(self, who: Requester, environment: str, reason: str | None = None) -> Decision:
        return self.send(
            SubmitRequest(
                request_id=self.request_id,
                item_id="app-deploy",
                inputs={"app": "shop", "environment": environment},
                requester=who,
                emergency=EmergencyOverride(reason=reason) if reason else None,
            )
        )


def at(text: str) -> datetime:
    return parse_instant(text, "Europe/Berlin")


def test_a_major_production_request_on_15_september_is_held_and_starts_when_the_window_ends() -> (
    None
):
    run = CalendarRun(deploy_item(), SHIPPED, at("2026-09-15T10:00"))
    d = run.submit_as(OPS, "production")
    assert [e.event_type for e in d.events] == ["RequestSubmitted", "RequestScheduled"]
    assert not d.commands, "nothing runs in the window"
    state = run.state
    assert state.change_class == "major" and state.status == "scheduled"
    assert state.freeze is not None and state.freeze.window == "restricted-period"
    assert state.freeze.until == FEB_1
    [timer] = d.timers
    assert timer.fired.kind == "change_window" and timer.due_at == FEB_1
    row = view_row(state)
    assert row["status"] == "scheduled"
    assert row["change"]["class"] == "major"
    assert row["change"]["until"] == "2027-01-31T23:00:00+00:00"
    assert row["change"]["window"] == "restricted-period"

    # Nothing else moves it: the window's timer fires at its end and the request starts.
    d = run.fire("change_window")
    assert run.now == FEB_1
    assert [e.event_type for e in d.events] == [
        "RequestReleased",
        "FulfilmentStarted",
        "StepDispatched",
    ]
    assert [c.step_id for c in d.commands] == ["deploy"]
    assert run.state.status == "in_progress"
    assert run.state.freeze is not None and run.state.freeze.released_at == FEB_1
    # a second firing of the same timer (a redelivery) does nothing
    assert not decide(
        run.state, timer.fired, DecisionContext(now=FEB_1, item=run.item, calendar=SHIPPED)
    ).events


def test_the_same_request_on_15_february_runs_at_once() -> None:
    run = CalendarRun(deploy_item(), SHIPPED, at("2027-02-15T10:00"))
    d = run.submit_as(OPS, "production")
    assert [e.event_type for e in d.events] == [
        "RequestSubmitted",
        "FulfilmentStarted",
        "StepDispatched",
    ]
    assert run.state.change_class == "major" and run.state.freeze is None


def test_a_normal_change_is_not_held_by_a_window_for_major_changes() -> None:
    run = CalendarRun(deploy_item(), SHIPPED, at("2026-09-15T10:00"))
    d = run.submit_as(OPS, "staging")
    assert run.state.change_class == "normal"
    assert [e.event_type for e in d.events][-1] == "StepDispatched"


def test_an_emergency_override_runs_at_once_and_its_reason_is_in_the_event_log() -> None:
    run = CalendarRun(deploy_item(), SHIPPED, at("2026-09-15T10:00"))
    d = run.submit_as(ON_CALL, "production", reason="INC-7001: checkout down, hotfix")
    assert [e.event_type for e in d.events] == [
        "RequestSubmitted",
        "FreezeOverridden",
        "FulfilmentStarted",
        "StepDispatched",
    ]
    overridden = d.events[1].model_dump(mode="json")
    assert overridden["reason"] == "INC-7001: checkout down, hotfix"
    assert overridden["by"]["id"] == "ivan" and overridden["window"] == "restricted-period"
    assert overridden["action"] == "hold"
    row = view_row(run.state)
    assert row["change"]["override_reason"] == "INC-7001: checkout down, hotfix"
    assert row["change"]["overridden_by"] == "ivan"


def test_an_override_without_the_emergency_role_is_refused_and_recorded() -> None:
    run = CalendarRun(deploy_item(), SHIPPED, at("2026-09-15T10:00"))
    d = run.submit_as(OPS, "production", reason="I am in a hurry")
    assert [e.event_type for e in d.events] == [
        "RequestSubmitted",
        "FreezeOverrideRefused",
        "RequestScheduled",
    ]
    assert d.events[1].model_dump()["role"] == "emergency-change"


CAB_AND_DENY = """\
schemaVersion: "1.0"
kind: ChangeCalendar
version: "t1"
timezone: UTC
windows:
  - name: quarter-close
    once: {start: "2026-09-28", end: "2026-10-03"}
    classes: [normal]
    action: escalate
    escalate_to: {team: change-advisory-board, expires_after: 1d}
  - name: migration
    once: {start: "2026-09-28", end: "2026-10-03"}
    classes: [major]
    action: deny
"""


def test_escalate_adds_a_stage_by_the_named_team_after_the_items_own() -> None:
    item = deploy_item(approval={"required": True, "approvers": {"users": ["mia"]}})
    run = CalendarRun(item, parse_calendar(CAB_AND_DENY), at("2026-09-30T09:00"))
    run.submit_as(OPS, "staging")
    assert run.state.status == "awaiting_approval" and run.state.approval is not None
    assert run.state.approval.stage_count == 1
    d = run.send(ApproveRequest(request_id="req-1", by=Requester(id="mia")))
    assert [e.event_type for e in d.events] == [
        "RequestApproved",
        "ChangeEscalated",
        "ApprovalRequested",
    ]
    approval = run.state.approval
    assert run.state.status == "awaiting_approval" and approval is not None
    assert approval.stage == 1 and approval.stage_count == 2
    assert approval.approver_teams == ("change-advisory-board",)
    assert approval.current is not None and approval.current.name == "change advisory board"
    # somebody who is not on the board may not decide it
    d = run.send(ApproveRequest(request_id="req-1", by=Requester(id="mia")))
    assert [e.event_type for e in d.events] == ["ApprovalRefused"]
    d = run.send(ApproveRequest(request_id="req-1", by=CAB))
    assert [e.event_type for e in d.events] == [
        "RequestApproved",
        "FulfilmentStarted",
        "StepDispatched",
    ]
    assert [s.status for s in run.state.approval.stages] == ["approved", "approved"]


def test_deny_rejects_naming_the_window_and_its_end() -> None:
    run = CalendarRun(deploy_item(), parse_calendar(CAB_AND_DENY), at("2026-09-30T09:00"))
    d = run.submit_as(OPS, "production")
    assert [e.event_type for e in d.events] == ["RequestSubmitted", "ChangeDenied"]
    assert run.state.status == "rejected"
    assert run.state.error == (
        "change window migration denies major changes until 2026-10-03T00:00:00+00:00"
    )


def test_a_held_request_can_be_cancelled_and_its_timer_goes() -> None:
    run = CalendarRun(deploy_item(), SHIPPED, at("2026-12-01T10:00"))
    run.submit_as(OPS, "production")
    assert [t.fired.kind for t in run.timers.values()] == ["change_window"]
    run.send(CancelRequest(request_id="req-1", by=OPS, reason="not needed"))
    assert run.state.status == "cancelled"
    assert not run.timers


def test_a_window_that_begins_as_another_ends_holds_the_request_again() -> None:
    text = """\
schemaVersion: "1.0"
kind: ChangeCalendar
version: "t2"
windows:
  - {name: first, once: {start: "2026-05-01", end: "2026-05-02"}, classes: [major], action: hold}
  - {name: second, once: {start: "2026-05-02", end: "2026-05-03"}, classes: [major], action: hold}
"""
    run = CalendarRun(deploy_item(), parse_calendar(text), at("2026-05-01T12:00"))
    run.submit_as(OPS, "production")
    d = run.fire("change_window")
    assert [e.event_type for e in d.events] == ["RequestReleased", "RequestScheduled"]
    assert run.state.freeze is not None and run.state.freeze.window == "second"
    assert run.state.freeze.holds == 2
    d = run.fire("change_window")
    assert [e.event_type for e in d.events][-1] == "StepDispatched"


def test_an_operation_declares_its_own_class() -> None:
    item = deploy_item(
        resource={},
        operations=[
            {
                "id": "restart",
                "title": "Restart",
                "change_class": "major",
                "fulfillment": {
                    "mode": "automated",
                    "automated": {"steps": [{"id": "r", "action": "debug.log"}]},
                },
            }
        ],
    )
    restart = item.operation("restart")
    assert restart is not None and restart.change_class.default == "major"
    assert item.change_class.default == "normal"


# --- the shipped calendar and hostile ones -------------------------------------------------


def test_the_shipped_calendar_holds_major_changes_from_september_to_january() -> None:
    assert SHIPPED is not None
    for day, held in [
        ("2026-08-31T23:59", False),
        ("2026-09-01T00:00", True),
        ("2026-12-24T12:00", True),
        ("2027-01-31T23:59", True),
        ("2027-02-01T00:00", False),
    ]:
        found = verdict(SHIPPED, at(day), "major", item_id="x", owner="y")
        assert (found is not None and found.action == "hold") is held, day


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidChangeCalendar) as caught:
        parse_calendar(text, "cal.yaml")
    return caught.value.problems


HEAD = 'schemaVersion: "1.0"\nkind: ChangeCalendar\nversion: "x"\n'


def test_overlapping_windows_are_refused_with_file_and_line() -> None:
    text = HEAD + (
        "windows:\n"
        "  - name: restricted\n"
        "    yearly: {start: '09-01', end: '02-01'}\n"
        "    classes: [major]\n"
        "    action: hold\n"
        "  - name: christmas\n"
        "    once: {start: '2026-12-20', end: '2026-12-27'}\n"
        "    classes: [normal, major]\n"
        "    action: deny\n"
    )
    [problem] = problems(text)
    assert problem.startswith("cal.yaml:9 windows[1]: window 'christmas' overlaps window")
    assert "'restricted'" in problem and "major changes" in problem


def test_windows_for_other_classes_or_items_may_share_dates() -> None:
    text = HEAD + (
        "windows:\n"
        "  - {name: a, yearly: {start: '09-01', end: '02-01'}, classes: [major], action: hold}\n"
        "  - {name: b, yearly: {start: '09-01', end: '02-01'}, classes: [normal], action: hold}\n"
        "  - name: c\n"
        "    yearly: {start: '09-01', end: '02-01'}\n"
        "    classes: [standard]\n"
        "    items: [one]\n"
        "    action: hold\n"
        "  - name: d\n"
        "    yearly: {start: '09-01', end: '02-01'}\n"
        "    classes: [standard]\n"
        "    items: [two]\n"
        "    action: hold\n"
    )
    assert len(parse_calendar(text).windows) == 4


def test_an_inverted_window_is_refused() -> None:
    text = HEAD + (
        "windows:\n"
        "  - name: backwards\n"
        "    once:\n"
        "      start: 2027-03-15T06:00\n"
        "      end: 2027-03-12T18:00\n"
        "    classes: [major]\n"
        "    action: hold\n"
    )
    assert problems(text) == [
        "cal.yaml:8 windows[0].once.end: ends (2027-03-12T18:00) before it starts"
        " (2027-03-15T06:00): inverted"
    ]


def test_an_unknown_time_zone_is_refused() -> None:
    text = HEAD + (
        "timezone: Europe/Atlantis\n"
        "windows:\n"
        "  - name: w\n"
        "    timezone: Mars/Olympus_Mons\n"
        "    yearly: {start: '09-01', end: '02-01'}\n"
        "    classes: [major]\n"
        "    action: hold\n"
    )
    assert problems(text) == [
        "cal.yaml:4 timezone: unknown time zone 'Europe/Atlantis'"
        " (an IANA name such as Europe/Berlin or UTC)",
        "cal.yaml:7 windows[0].timezone: unknown time zone 'Mars/Olympus_Mons'"
        " (an IANA name such as Europe/Berlin or UTC)",
    ]


def test_an_unknown_class_is_refused() -> None:
    text = HEAD + (
        "windows:\n"
        "  - name: w\n"
        "    yearly: {start: '09-01', end: '02-01'}\n"
        "    classes: [major, emergency]\n"
        "    action: hold\n"
    )
    assert problems(text) == [
        "cal.yaml:7 windows[0].classes[1]: Input should be 'standard', 'normal' or 'major'"
    ]


def test_other_mistakes_are_named_too() -> None:
    text = HEAD + (
        "windows:\n"
        "  - name: w\n"
        "    yearly: {start: '02-29', end: '13-01'}\n"
        "    classes: [major]\n"
        "    action: escalate\n"
        "  - name: w\n"
        "    once: {start: '2026-01-01', end: '2026-01-02'}\n"
        "    classes: [normal]\n"
        "    action: deny\n"
        "    escalate_to: {team: cab}\n"
    )
    assert problems(text) == [
        "cal.yaml:6 windows[0].yearly.start: 02-29 is not in every year",
        "cal.yaml:6 windows[0].yearly.end: month must be in 1..12",
        "cal.yaml:8 windows[0].action: action escalate names the team: escalate_to: {team: ...}",
        "cal.yaml:9 windows[1].name: window 'w' is declared twice (also #1)",
        "cal.yaml:13 windows[1].escalate_to: escalate_to: has no effect with action deny",
    ]


def test_the_notifier_hears_of_the_hold_and_the_release_by_their_event_names() -> None:
    from pao_common.messages import RequestEvent
    from pao_notifier.policy import load_policy
    from pao_notifier.routing import RequestFacts, plan

    policy = load_policy(REPO / "policies" / "notifications.yaml")
    run = CalendarRun(deploy_item(), SHIPPED, at("2026-09-15T10:00"))
    run.submit_as(OPS, "production")
    run.fire("change_window")
    facts = RequestFacts("req-1", "app-deploy", OPS.model_dump(mode="json"))
    sent = {}
    for version, event in enumerate(run.events, start=1):
        public = RequestEvent(
            request_id="req-1",
            event_type=event.event_type,
            version=version,
            status="scheduled",
            occurred_at=event.occurred_at,
            data=event.model_dump(mode="json", exclude={"occurred_at"}),
        )
        for note in plan(public, facts, policy, {"portal_url": "http://portal"}):
            sent[note.trigger] = note
    assert set(sent) == {"scheduled", "released"}
    assert sent["scheduled"].recipients == ("olga@example.com",)
    assert "restricted-period" in sent["scheduled"].body
    assert "2027-01-31T23:00:00Z" in sent["scheduled"].body or "2027-01-31T23:00:00" in (
        sent["scheduled"].body
    )
    assert "restricted-period" in sent["released"].body


async def test_an_operation_request_is_held_by_its_own_class_through_the_service() -> None:
    from pao_catalog_model.model import ChangeClass
    from pao_common.topics import Topics
    from pao_orchestrator.adapters.memory import (
        InMemoryEventStore,
        InMemoryItemCatalog,
        InMemoryOutbox,
        MemoryDatabase,
    )
    from pao_orchestrator.handler import RequestHandler

    from tests.orchestrator.resource_items import resource_item
    from tests.orchestrator.test_resources import World

    item = resource_item()
    ops = tuple(
        op.model_copy(update={"change_class": ChangeClass(default="major")})
        if op.id == "decommission"
        else op
        for op in item.operations
    )
    item = item.model_copy(update={"operations": ops})
    mem = MemoryDatabase()
    world = World(InMemoryEventStore(mem), InMemoryOutbox(mem))
    world.catalog = InMemoryItemCatalog([item])
    world.clock.now = lambda: at("2026-10-01T09:00")  # type: ignore[method-assign]
    world.handler = RequestHandler(
        world.store,
        world.catalog,
        world.clock,
        Topics(".t-calendar"),
        {"environment": "t"},
        calendar=SHIPPED,
    )
    _, resource_id = await world.provision("orders")  # the item itself is standard: runs
    assert (await world.resource(resource_id)).status == "active"
    rid = await world.operate(resource_id, "decommission", {})
    state = await world.request(rid)
    assert state.change_class == "major" and state.status == "scheduled"
    assert state.freeze is not None and state.freeze.until == FEB_1

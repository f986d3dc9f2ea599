"""Business metrics: a known mix of requests gives exactly those figures, redelivered
messages are not counted twice, and unknown item ids add no label values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pao_common.change_calendar import parse_calendar, parse_instant
from pao_common.messages import ApproveRequest, Requester, SubmitRequest, TicketResolved
from pao_common.topics import Topics
from pao_orchestrator.adapters.memory import (
    FixedClock,
    InMemoryEventStore,
    InMemoryItemCatalog,
    MemoryDatabase,
)
from pao_orchestrator.domain.decision import Decision, Inbound
from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.domain.state import TERMINAL
from pao_orchestrator.handler import RequestHandler
from pao_orchestrator.metrics import OPEN_STATUSES, RequestMetrics
from prometheus_client import REGISTRY

from tests.change.test_change_calendar import CAB, CAB_AND_DENY, OPS, CalendarRun, deploy_item
from tests.orchestrator.items import ALICE, BOB_APPROVER, T0, Run, automated_item, manual_item

HOST = {"host": "db.internal"}
APPROVAL = {"required": True, "approvers": {"teams": ["dba"]}, "expires_after": "2h"}


class MeteredRun(Run):
    """``Run`` that tells ``RequestMetrics`` about each decision, as the handler does."""

    metrics = RequestMetrics()

    def send(self, message: Inbound) -> Decision:
        before = self.state
        decision = super().send(message)
        if decision.events:
            self.metrics.observe(before, decision.events, reduce(self.events))
        return decision


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Sample values now against those when made (counters are process-wide)."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self._start = {(n, tuple(sorted(ls.items()))): sample(n, **ls) for n, ls in samples}

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return sample(name, **labels) - self._start[key]


@pytest.fixture
def delta() -> Iterator[Any]:
    wanted: list[tuple[str, dict[str, str]]] = []
    a, m = {"item": "pg-db", "mode": "automated"}, {"item": "vm", "mode": "manual"}
    for labels in (a, m):
        wanted += [
            ("pao_requests_submitted_total", labels),
            ("pao_request_lead_time_seconds_count", labels),
            ("pao_request_lead_time_seconds_sum", labels),
            ("pao_request_approval_wait_seconds_count", labels),
            ("pao_request_approval_wait_seconds_sum", labels),
        ]
        for outcome in ("completed", "failed", "rolled_back"):
            wanted.append(("pao_requests_ended_total", {**labels, "outcome": outcome}))
    for action, outcome in [
        ("debug.log", "succeeded"),
        ("debug.log", "compensated"),
        ("rest.call", "succeeded"),
        ("rest.call", "failed"),
        ("jira", "succeeded"),
    ]:
        labels = {"action_type": action, "outcome": outcome}
        wanted += [("pao_steps_total", labels), ("pao_step_duration_seconds_sum", labels)]
    wanted += [
        ("pao_step_retries_total", {"action_type": "debug.log"}),
        ("pao_rollbacks_total", {"item": "pg-db"}),
        ("pao_fallbacks_to_manual_total", {"item": "pg-db"}),
        ("pao_requests_submitted_total", {"item": "other", "mode": "none"}),
        ("pao_requests_ended_total", {"item": "other", "mode": "none", "outcome": "invalid"}),
    ]
    yield Delta(*wanted)


def test_a_known_mix_of_requests_gives_exactly_those_figures(delta: Any) -> None:
    retrying = automated_item(retry={"attempts": 2, "backoff_s": 5, "jitter": False})
    # 1. automated, completes in 60 s after one retry of its first step (5 s backoff).
    run = MeteredRun(retrying, "req-done")
    run.submit()
    run.tick(10)
    run.fail("flaky", retryable=True)
    run.fire("retry")
    run.tick(5)
    run.succeed(HOST)  # create: 20 s from its first dispatch
    run.tick(20)
    run.succeed()  # grant
    run.tick(20)
    run.succeed()  # notify
    assert run.state.status == "completed"
    # 2. automated, grant fails, create is rolled back: 30 s.
    run = MeteredRun(automated_item(), "req-rolled")
    run.submit()
    run.succeed(HOST)
    run.tick(10)
    run.fail("quota")
    run.tick(20)
    run.succeed()  # create compensated
    assert run.state.status == "rolled_back"
    # 3. automated with fallback: rolled back, then a ticket a person resolves; 1 h.
    run = MeteredRun(automated_item(fallback=True), "req-fallback")
    run.submit()
    run.succeed(HOST)
    run.fail("quota")
    run.succeed()
    run.succeed({"key": "OPS-7", "url": "https://jira/OPS-7"})
    run.tick(3600)
    run.send(TicketResolved(request_id="req-fallback", ticket_key="OPS-7", outcome="done"))
    assert run.state.status == "completed"
    # 4. manual with approval: approved after 30 min, resolved "won't do" 1 h later.
    run = MeteredRun(manual_item(approval=APPROVAL), "req-manual")
    run.submit()
    run.tick(1800)
    run.send(ApproveRequest(request_id="req-manual", by=BOB_APPROVER))
    run.succeed({"key": "OPS-8", "url": "https://jira/OPS-8"})
    run.tick(3600)
    run.send(TicketResolved(request_id="req-manual", ticket_key="OPS-8", outcome="wont_do"))
    assert run.state.status == "failed"
    # 5. an item the catalog does not know.
    MeteredRun(None, "req-unknown").submit(item_id="no-such-item")

    a, m = {"item": "pg-db", "mode": "automated"}, {"item": "vm", "mode": "manual"}
    assert delta("pao_requests_submitted_total", **a) == 3
    assert delta("pao_requests_submitted_total", **m) == 1
    assert delta("pao_requests_ended_total", **a, outcome="completed") == 2
    assert delta("pao_requests_ended_total", **a, outcome="rolled_back") == 1
    assert delta("pao_requests_ended_total", **a, outcome="failed") == 0
    assert delta("pao_requests_ended_total", **m, outcome="failed") == 1
    assert delta("pao_request_lead_time_seconds_count", **a) == 3
    assert delta("pao_request_lead_time_seconds_sum", **a) == 60 + 30 + 3600
    assert delta("pao_request_lead_time_seconds_count", **m) == 1
    assert delta("pao_request_lead_time_seconds_sum", **m) == 5400
    assert delta("pao_request_approval_wait_seconds_count", **m) == 1
    assert delta("pao_request_approval_wait_seconds_sum", **m) == 1800
    assert delta("pao_request_approval_wait_seconds_count", **a) == 0
    # Steps: create x3 and notify succeeded (20 s, 20 s, 0, 0), create compensated x2,
    # grant succeeded once (20 s) and failed twice, two tickets created.
    log_ok = {"action_type": "debug.log", "outcome": "succeeded"}
    assert delta("pao_steps_total", **log_ok) == 4
    assert delta("pao_step_duration_seconds_sum", **log_ok) == 40
    assert delta("pao_steps_total", action_type="debug.log", outcome="compensated") == 2
    assert delta("pao_steps_total", action_type="rest.call", outcome="succeeded") == 1
    rest_ok = {"action_type": "rest.call", "outcome": "succeeded"}
    assert delta("pao_step_duration_seconds_sum", **rest_ok) == 20
    assert delta("pao_steps_total", action_type="rest.call", outcome="failed") == 2
    assert delta("pao_steps_total", action_type="jira", outcome="succeeded") == 2
    assert delta("pao_step_retries_total", action_type="debug.log") == 1
    assert delta("pao_rollbacks_total", item="pg-db") == 2
    assert delta("pao_fallbacks_to_manual_total", item="pg-db") == 1
    other = {"item": "other", "mode": "none"}
    assert delta("pao_requests_submitted_total", **other) == 1
    assert delta("pao_requests_ended_total", **other, outcome="invalid") == 1


def _item_labels() -> set[str]:
    found: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("pao_request"):
            found |= {s.labels["item"] for s in family.samples if "item" in s.labels}
    return found


async def test_redelivered_messages_count_once_and_unknown_items_add_no_labels() -> None:
    mem = MemoryDatabase()
    handler = RequestHandler(
        InMemoryEventStore(mem),
        InMemoryItemCatalog([automated_item()]),
        FixedClock(T0),
        Topics(".t-metrics"),
        {"environment": "test"},
        observe=RequestMetrics().observe,
        cache_size=0,  # every message goes to the store, as after a restart
    )
    labels = {"item": "pg-db", "mode": "automated"}
    before = sample("pao_requests_submitted_total", **labels)
    submit = SubmitRequest(
        request_id="req-twice", item_id="pg-db", inputs={"name": "orders"}, requester=ALICE
    )
    assert await handler.handle(submit, "msg-1") == "committed"
    assert await handler.handle(submit, "msg-1") == "duplicate"
    assert await handler.handle(submit, "msg-2") == "no-op"  # the same request again
    assert sample("pao_requests_submitted_total", **labels) - before == 1

    known = _item_labels()
    other = {"item": "other", "mode": "none"}
    rejected_before = sample("pao_requests_ended_total", **other, outcome="invalid")
    for n in range(1000):
        unknown = SubmitRequest(
            request_id=f"req-unknown-{n}", item_id=f"made-up-{n}", inputs={}, requester=ALICE
        )
        await handler.handle(unknown, f"msg-unknown-{n}")
    assert _item_labels() - known <= {"other"}
    assert sample("pao_requests_ended_total", **other, outcome="invalid") - rejected_before == 1000


@pytest.mark.integration
async def test_the_database_gauges_count_waiting_approvals_stuck_requests_and_the_outbox(
    fresh_database_url: str,
) -> None:
    from pao_common import db
    from pao_orchestrator.metrics import LifecycleGauges

    pool = await db.create_pool(fresh_database_url, max_size=2)
    try:
        gauges = LifecycleGauges(pool)
        await gauges.refresh()
        assert sample("pao_approvals_waiting") == 0
        assert sample("pao_requests_stuck") == 0
        assert sample("pao_outbox_backlog", outbox="orchestrator") == 0
        assert sample("pao_outbox_oldest_age_seconds", outbox="orchestrator") == 0
        statuses = ["awaiting_approval", "awaiting_approval", "in_progress", "scheduled"]
        for n, status in enumerate(statuses):
            await pool.execute(
                "INSERT INTO request_view (request_id, item_id, status, last_version)"
                " VALUES ($1, 'vm', $2, 1)",
                f"req-{n}",
                status,
            )
        timers = [
            ("t-late", "req-2", "step_timeout", -300),  # stuck: 5 min past due
            ("t-late-2", "req-2", "retry", -200),  # the same request again
            ("t-recent", "req-1", "step_timeout", -10),  # within the grace
            ("t-expiry", "req-0", "approval_expiry", -900),  # not a step's timer
        ]
        for timer_id, stream, kind, due in timers:
            await pool.execute(
                "INSERT INTO timers (timer_id, stream_id, kind, due_at, payload)"
                " VALUES ($1, $2, $3, now() + make_interval(secs => $4), '{}')",
                timer_id,
                stream,
                kind,
                due,
            )
        await pool.execute(
            "INSERT INTO outbox (message_id, topic, key, ce_type, body, created_at)"
            " VALUES ('m-1', 't', 'k', 'x', '{}', now() - interval '90 seconds'),"
            " ('m-2', 't', 'k', 'x', '{}', now())"
        )
        await gauges.refresh()
        assert sample("pao_approvals_waiting") == 2
        assert sample("pao_requests_open", status="in_progress") == 1
        assert sample("pao_requests_open", status="scheduled") == 1  # held by a window
        assert sample("pao_requests_stuck") == 1
        assert sample("pao_outbox_backlog", outbox="orchestrator") == 2
        assert 90 <= sample("pao_outbox_oldest_age_seconds", outbox="orchestrator") < 3600
    finally:
        await pool.close()


class MeteredCalendarRun(CalendarRun):
    """A change-calendar ``Run`` that tells ``RequestMetrics`` about each decision."""

    metrics = RequestMetrics()

    def send(self, message: Inbound) -> Decision:
        before = self.state
        decision = super().send(message)
        if decision.events:
            self.metrics.observe(before, decision.events, reduce(self.events))
        return decision


def test_a_change_window_escalation_counts_the_approval_wait_once() -> None:
    """The item's own stage approved after 30 min, then the change advisory board's
    stage (the window's escalation, in the same commit) after 2 h more: one approval wait
    of 2.5 h, not 30 min and 2.5 h."""
    labels = {"item": "app-deploy", "mode": "automated"}
    names = ("pao_request_approval_wait_seconds_count", "pao_request_approval_wait_seconds_sum")
    wait = Delta(*((name, labels) for name in names))
    item = deploy_item(approval={"required": True, "approvers": {"users": ["mia"]}})
    start = parse_instant("2026-09-30T09:00", "Europe/Berlin")
    run = MeteredCalendarRun(item, parse_calendar(CAB_AND_DENY), start)
    run.submit_as(OPS, "staging")
    run.now = start + timedelta(minutes=30)
    escalated = run.send(ApproveRequest(request_id="req-1", by=Requester(id="mia")))
    assert [e.event_type for e in escalated.events][:2] == ["RequestApproved", "ChangeEscalated"]
    assert wait("pao_request_approval_wait_seconds_count", **labels) == 0  # still waiting
    run.now = start + timedelta(hours=2, minutes=30)
    run.send(ApproveRequest(request_id="req-1", by=CAB))
    assert run.state.status == "in_progress"
    assert wait("pao_request_approval_wait_seconds_count", **labels) == 1
    assert wait("pao_request_approval_wait_seconds_sum", **labels) == 2.5 * 3600


def test_every_status_between_submission_and_end_is_an_open_status() -> None:
    assert "scheduled" in OPEN_STATUSES and "awaiting_change_approval" in OPEN_STATUSES
    assert not set(OPEN_STATUSES) & (TERMINAL | {"new"})

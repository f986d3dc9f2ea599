"""Business metrics of the request lifecycle, counted from what was committed.

``RequestMetrics.observe(before, events, after)`` is called by the handler once a commit
has succeeded, with the state before the message, the events it appended and the state
after them. A message seen again (a redelivery, a duplicate command) appends nothing and
is never counted twice; a commit that lost a race is decided again and counted once, when
it wins. Each replica counts its own commits, so a figure is the ``sum`` over replicas;
a restart starts its counters at zero, which ``rate``/``increase`` take in their stride.

Label sets stay bounded: ``item`` is the catalog item's id only when the catalog knew the
item at submission (the request got a fulfilment mode), else ``other``, so requests for
made-up ids add no series; ``action_type`` comes from the item's steps (the catalog), and
outcomes and modes are closed sets.

``LifecycleGauges.refresh`` reads what only the database knows (approvals waiting, the
outbox, overdue timers), so those figures are right after a restart and the same on
every replica (take the ``max`` over replicas, not the sum).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, get_args

import asyncpg
from pao_common.outbox_gauges import set_outbox
from prometheus_client import Counter, Gauge, Histogram

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.state import TERMINAL, RequestState, RequestStatus

OTHER_ITEM = "other"
NO_MODE = "none"
# Refused at submission (unknown item, inputs the form rejects): not a failed fulfilment.
INVALID = "invalid"
# Steps end in these statuses; a step that reaches one counts as one run.
SETTLED_STEPS = frozenset({"succeeded", "failed", "timed_out", "cancelled", "compensated"})
# Lead times run from seconds (automated) to weeks (manual tickets).
LEAD_TIME_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 86400, 3 * 86400,
                     7 * 86400, 14 * 86400, 30 * 86400)  # fmt: skip
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)
# A step timeout or retry timer this far past due and still not fired: the request is stuck.
STUCK_GRACE_S = 60

SUBMITTED = Counter(
    "pao_requests_submitted_total", "Requests submitted, by catalog item and mode", ["item", "mode"]
)
ENDED = Counter(
    "pao_requests_ended_total",
    "Requests that reached an end state (completed, failed, rolled_back, cancelled, "
    "rejected, expired, invalid), by item, mode and outcome",
    ["item", "mode", "outcome"],
)
LEAD_TIME = Histogram(
    "pao_request_lead_time_seconds",
    "Time from submission to the end state, by item and mode (every outcome but invalid)",
    ["item", "mode"],
    buckets=LEAD_TIME_BUCKETS,
)
APPROVAL_WAIT = Histogram(
    "pao_request_approval_wait_seconds",
    "Time from submission to the approval decision (approved, rejected or expired), once"
    " per request: a change window's extra stage counts in the same wait",
    ["item", "mode"],
    buckets=LEAD_TIME_BUCKETS,
)
STEPS = Counter(
    "pao_steps_total",
    "Steps settled, by action type and outcome (succeeded, failed, timed_out, cancelled, "
    "compensated)",
    ["action_type", "outcome"],
)
STEP_DURATION = Histogram(
    "pao_step_duration_seconds",
    "Time from a step's first dispatch to its settling, retries included",
    ["action_type", "outcome"],
    buckets=STEP_BUCKETS,
)
RETRIES = Counter("pao_step_retries_total", "Step retries scheduled", ["action_type"])
ROLLBACKS = Counter("pao_rollbacks_total", "Rollbacks started, by item", ["item"])
FALLBACKS = Counter("pao_fallbacks_to_manual_total", "Automations handed to a person", ["item"])

APPROVALS_WAITING = Gauge("pao_approvals_waiting", "Requests awaiting approval now")
IN_PROGRESS = Gauge(
    "pao_requests_open", "Requests not yet ended, by status (from request_view)", ["status"]
)
STUCK = Gauge(
    "pao_requests_stuck",
    f"Requests whose step timeout or retry timer is over {STUCK_GRACE_S}s past due, unfired",
)
# Every status a request can be in between its submission and its end (held by a change
# window, waiting for its ServiceNow change, ...), from the state's own list, so a status
# added there is counted here.
OPEN_STATUSES: tuple[str, ...] = tuple(
    s for s in get_args(RequestStatus) if s not in TERMINAL and s != "new"
)


_children: dict[tuple[object, ...], Any] = {}


def _child(metric: Counter | Histogram, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered: the label sets are bounded (module
    docstring), and ``labels`` takes a lock and builds its key on every call."""
    key = (metric, *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def _item(state: RequestState) -> str:
    return state.item_id if state.item_id and state.mode else OTHER_ITEM


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


class RequestMetrics:
    """Counts one commit's events (see the module docstring). Cheap: a few dict lookups
    per event, no I/O."""

    def observe(
        self, before: RequestState, events: Sequence[ev.DomainEvent], after: RequestState
    ) -> None:
        item, mode = _item(after), after.mode or NO_MODE
        for event in events:
            match event:
                case ev.RequestSubmitted():
                    _child(SUBMITTED, item, mode).inc()
                case ev.RequestApproved() | ev.RequestRejected() | ev.ApprovalExpired():
                    # Approved, then escalated by a change window (ChangeEscalated and the
                    # board's stage in the same commit): still waiting, counted when the
                    # last stage is decided, from the submission, so once per request.
                    wait = _seconds(after.submitted_at, event.occurred_at)
                    if wait is not None and after.status != "awaiting_approval":
                        _child(APPROVAL_WAIT, item, mode).observe(wait)
                case ev.StepRetryScheduled():
                    step = after.step(event.step_id)
                    _child(RETRIES, step.action_type if step else "unknown").inc()
                case ev.RollbackStarted():
                    _child(ROLLBACKS, item).inc()
                case ev.FallbackToManual():
                    _child(FALLBACKS, item).inc()
        if before.steps is not after.steps:
            was = {s.id: s.status for s in before.steps}
            for step in after.steps:
                if step.status in SETTLED_STEPS and was.get(step.id) != step.status:
                    _child(STEPS, step.action_type, step.status).inc()
                    took = _seconds(step.started_at, step.finished_at)
                    if took is not None:
                        _child(STEP_DURATION, step.action_type, step.status).observe(took)
        if after.status in TERMINAL and before.status not in TERMINAL:
            if any(isinstance(e, ev.RequestRejectedInvalid) for e in events):
                _child(ENDED, item, mode, INVALID).inc()  # the requester's mistake: no lead time
                return
            _child(ENDED, item, mode, after.status).inc()
            took = _seconds(after.submitted_at, events[-1].occurred_at if events else None)
            if took is not None:
                _child(LEAD_TIME, item, mode).observe(took)


_GAUGE_QUERY = f"""
SELECT
  (SELECT coalesce(jsonb_object_agg(status, n), '{{}}'::jsonb) FROM (
     SELECT status, count(*) AS n FROM request_view
     WHERE status = ANY($1::text[]) GROUP BY status) s) AS open,
  (SELECT count(*) FROM outbox) AS outbox_backlog,
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM outbox) AS outbox_age,
  (SELECT count(DISTINCT stream_id) FROM timers
     WHERE kind IN ('step_timeout', 'retry')
       AND due_at < now() - interval '{STUCK_GRACE_S} seconds') AS stuck
"""


class LifecycleGauges:
    """The gauges only the database can tell, refreshed by ``refresh`` (one query)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def refresh(self) -> None:
        row = await self._pool.fetchrow(_GAUGE_QUERY, list(OPEN_STATUSES))
        assert row is not None
        open_counts = row["open"]
        if isinstance(open_counts, str):
            open_counts = json.loads(open_counts)
        for status in OPEN_STATUSES:
            IN_PROGRESS.labels(status).set(open_counts.get(status, 0))
        APPROVALS_WAITING.set(open_counts.get("awaiting_approval", 0))
        set_outbox("orchestrator", row["outbox_backlog"], float(row["outbox_age"]))
        STUCK.set(row["stuck"])

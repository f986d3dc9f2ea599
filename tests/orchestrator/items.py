"""Catalog items and a decide-loop harness for the orchestrator's tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pao_catalog_model.model import CatalogItem, parse_item
from pao_common.messages import (
    ActionFailed,
    ActionSucceeded,
    CompensateAction,
    ExecuteAction,
    Requester,
    SubmitRequest,
)
from pao_orchestrator.domain.decide import decide
from pao_orchestrator.domain.decision import Decision, DecisionContext, Inbound, TimerRequest
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.domain.state import RequestState, StepState

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ALICE = Requester(id="alice", email="alice@example.com", teams=("payments",))
BOB_APPROVER = Requester(id="bob", teams=("dba",))
MALLORY = Requester(id="mallory", teams=("sales",))


def build_item(fulfillment: dict[str, Any], **extra: Any) -> CatalogItem:
    return parse_item(
        {
            "schemaVersion": "2.0",
            "metadata": {
                "id": extra.pop("id", "pg-db"),
                "name": "PostgreSQL database",
                "version": extra.pop("version", "1.2.0"),
                "owner": "dba",
                "category": "data",
            },
            "presentation": {
                "fields": [
                    {"id": "name", "type": "string", "label": "Name", "required": True},
                    {"id": "size", "type": "integer", "label": "Size", "default": 10},
                    {"id": "backup", "type": "boolean", "label": "Backup", "default": False},
                ]
            },
            "fulfillment": fulfillment,
            **extra,
        }
    )


JIRA = {
    "jira": {
        "project": "OPS",
        "summary": "Database {{ inputs.name }} for {{ user.id }}",
        "description": "{{ request.failure or 'manual request' }}",
    }
}


def automated_item(
    *,
    retry: dict[str, Any] | None = None,
    fallback: bool = False,
    approval: dict[str, Any] | list[dict[str, Any]] | None = None,  # one rule, or stages
    version: str = "1.2.0",
    item_id: str = "pg-db",
) -> CatalogItem:
    create: dict[str, Any] = {
        "id": "create",
        "action": "debug.log",
        "with": {"message": "create {{ inputs.name }}", "size": "{{ inputs.size }}"},
        "timeout_s": 30,
        "rollback": {"action": "debug.log", "with": {"message": "drop {{ inputs.name }}"}},
    }
    if retry:
        create["retry"] = retry
    steps = [
        create,
        {
            "id": "backup",
            "action": "debug.log",
            "when": "inputs.backup",
            "with": {"message": "backup"},
            "rollback": {"with": {"message": "unbackup"}},
        },
        {
            "id": "grant",
            "action": "rest.call",
            "with": {"host": "{{ steps.create.outputs.host }}"},
            "timeout_s": 10,
            "rollback": {"with": {"revoke": "{{ steps.create.outputs.host }}"}},
        },
        {"id": "notify", "action": "debug.log", "with": {"message": "done"}},
    ]
    fulfillment: dict[str, Any] = {
        "mode": "automated",
        "automated": {
            "steps": steps,
            "outputs": {"host": "{{ steps.create.outputs.host }}", "size": "{{ inputs.size }}"},
            "fallback_to_manual": fallback,
        },
    }
    if fallback:
        fulfillment["manual"] = JIRA
    extra: dict[str, Any] = {"version": version, "id": item_id}
    if approval:
        extra["approval"] = approval
    return build_item(fulfillment, **extra)


def provision_item(*, fallback: bool = False) -> CatalogItem:
    """Like catalog/postgres-database: the item's outputs read a step output by name."""
    fulfillment: dict[str, Any] = {
        "mode": "automated",
        "automated": {
            "steps": [
                {
                    "id": "provision",
                    "action": "terraform.run",
                    "with": {"workspace": "pg-{{ inputs.name }}"},
                    "rollback": {"with": {"workspace": "pg-{{ inputs.name }}", "destroy": True}},
                },
                {"id": "notify", "action": "debug.log", "with": {"message": "ready"}},
            ],
            "outputs": {"endpoint": "{{ steps.provision.outputs.endpoint }}"},
            "fallback_to_manual": fallback,
        },
    }
    if fallback:
        fulfillment["manual"] = JIRA
    return build_item(fulfillment, id="pg-provisioned")


def manual_item(approval: dict[str, Any] | None = None) -> CatalogItem:
    extra: dict[str, Any] = {"id": "vm"}
    if approval:
        extra["approval"] = approval
    return build_item({"mode": "manual", "manual": JIRA}, **extra)


E = TypeVar("E", bound=DomainEvent)


def event(events: Sequence[DomainEvent], index: int, kind: type[E]) -> E:
    """``events[index]``, checked to be a ``kind``."""
    found = events[index]
    assert isinstance(found, kind), found
    return found


class Run:
    """Drives one request through ``decide`` like the service would, without I/O."""

    def __init__(self, item: CatalogItem | None, request_id: str = "req-1") -> None:
        self.item = item
        self.request_id = request_id
        self.now = T0
        self.events: list[DomainEvent] = []
        self.decisions: list[Decision] = []
        self.timers: dict[str, TimerRequest] = {}

    @property
    def state(self) -> RequestState:
        return reduce(self.events)

    def status(self) -> str:
        """The request's status now: a call, so a type checker does not carry what an
        earlier assert said of ``state.status`` across ``send``."""
        return self.state.status

    def step(self, step_id: str) -> StepState:
        """The step ``step_id`` of the request now, which it has."""
        step = self.state.step(step_id)
        assert step is not None, f"no step {step_id}: {[s.id for s in self.state.steps]}"
        return step

    def send(self, message: Inbound) -> Decision:
        ctx = DecisionContext(now=self.now, item=self.item, system={"environment": "test"})
        decision = decide(self.state, message, ctx)
        self.events.extend(decision.events)
        self.decisions.append(decision)
        for t in decision.timers:
            self.timers[t.timer_id] = t
        for timer_id in decision.cancel_timers:
            self.timers.pop(timer_id, None)
        return decision

    def submit(self, inputs: dict[str, Any] | None = None, **kw: Any) -> Decision:
        return self.send(
            SubmitRequest(
                request_id=self.request_id,
                item_id=self.item.metadata.id if self.item else kw.pop("item_id", "nope"),
                inputs={"name": "orders"} if inputs is None else inputs,
                requester=ALICE,
                **kw,
            )
        )

    def commands(self) -> list[ExecuteAction | CompensateAction]:
        return [c for d in self.decisions for c in d.commands]

    def last_command(self) -> ExecuteAction | CompensateAction:
        return self.commands()[-1]

    def succeed(self, outputs: dict[str, Any] | None = None, command: Any = None) -> Decision:
        c = command or self.last_command()
        return self.send(
            ActionSucceeded(
                command_id=c.command_id,
                request_id=c.request_id,
                step_id=c.step_id,
                attempt=c.attempt,
                outputs=outputs or {},
            )
        )

    def fail(
        self,
        error: str = "boom",
        retryable: bool = False,
        command: Any = None,
        **details: Any,
    ) -> Decision:
        c = command or self.last_command()
        return self.send(
            ActionFailed(
                command_id=c.command_id,
                request_id=c.request_id,
                step_id=c.step_id,
                attempt=c.attempt,
                error=error,
                retryable=retryable,
                **details,
            )
        )

    def fire(self, kind: str) -> Decision:
        """Advance the clock to the earliest pending timer of ``kind`` and fire it."""
        pending = sorted(
            (t for t in self.timers.values() if t.fired.kind == kind), key=lambda t: t.due_at
        )
        assert pending, f"no {kind} timer pending: {list(self.timers)}"
        timer = pending[0]
        self.now = max(self.now, timer.due_at)
        del self.timers[timer.timer_id]
        return self.send(timer.fired)

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def types(self) -> list[str]:
        return [e.event_type for e in self.events]

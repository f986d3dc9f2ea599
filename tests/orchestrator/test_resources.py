"""Resources as streams of their own: the fold, the decisions, and the service layer.

Pure parts first (``resource_state``, ``resources``), then the handler over the
in-memory store and PostgreSQL: a provisioning opens and activates a resource, an
operation claims it, sees it in its templates and settles it, a busy, unknown or
decommissioned resource refuses operations, two racing claims give one winner, and
the rebuilt ``resource_view`` equals the live one after a few hundred mixed requests.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pao_common import db
from pao_common.messages import (
    ActionFailed,
    ActionSucceeded,
    CancelRequest,
    RejectRequest,
    Requester,
    ResourceUpdated,
    SubmitRequest,
    TicketResolved,
    resource_id_for,
)
from pao_common.topics import Topics
from pao_orchestrator.adapters.memory import (
    FixedClock,
    InMemoryEventStore,
    InMemoryItemCatalog,
    InMemoryOutbox,
    MemoryDatabase,
)
from pao_orchestrator.adapters.postgres import PostgresEventStore, PostgresOutbox
from pao_orchestrator.domain import resource_events as rev
from pao_orchestrator.domain import resources
from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.domain.resource_state import ResourceState, reduce_resource
from pao_orchestrator.handler import RequestHandler
from pao_orchestrator.ports import EventStore, Outbox, OutboxMessage
from pao_orchestrator.projection import rebuild, resource_view_row

from tests.orchestrator.items import ALICE, MALLORY, T0
from tests.orchestrator.resource_items import ITEM_ID, resource_item

TOPICS = Topics(".t-resources")
DBA = Requester(id="dora", teams=("dba",))

# --- the fold ------------------------------------------------------------------------------


def _history() -> list[Any]:
    at = T0
    return [
        rev.ResourceProvisioningStarted(
            occurred_at=at,
            request_id="p1",
            resource_id="r1",
            item_id=ITEM_ID,
            item_version="1.2.0",
            name="pg-orders",
            owner_team="payments",
            requester_id="alice",
            inputs={"name": "orders", "size": 10},
            submitted_at=at,
        ),
        rev.ResourceProvisioned(
            occurred_at=at + timedelta(minutes=1),
            request_id="p1",
            inputs={"name": "orders", "size": 10},
            outputs={"endpoint": "db:5432", "password": "${secret:pg/orders}"},
        ),
        rev.ResourceOperationStarted(
            occurred_at=at + timedelta(minutes=2),
            request_id="d1",
            operation="decommission",
            status="decommissioning",
        ),
        rev.ResourceOperationFailed(
            occurred_at=at + timedelta(minutes=3),
            request_id="d1",
            operation="decommission",
            error="step drop failed: locked",
            request_status="failed",
        ),
    ]


def test_a_failed_decommission_leaves_the_resource_active_with_the_request_linked() -> None:
    state = reduce_resource(_history())
    assert state.status == "active"
    assert state.decommissioned_at is None
    assert state.active_request_id is None
    assert state.error == "step drop failed: locked"
    assert [(r.request_id, r.operation, r.status) for r in state.requests] == [
        ("p1", None, "completed"),
        ("d1", "decommission", "failed"),
    ]
    assert state.version == 4


def test_the_fold_follows_provisioning_and_operations() -> None:
    events = _history()
    assert reduce_resource(events[:1]).status == "provisioning"
    assert reduce_resource(events[:1]).active_request_id == "p1"
    claimed = reduce_resource(events[:3])
    assert (claimed.status, claimed.active_request_id) == ("decommissioning", "d1")
    gone = reduce_resource(
        [
            *events,
            rev.ResourceOperationStarted(
                occurred_at=T0 + timedelta(hours=1),
                request_id="d2",
                operation="decommission",
                status="decommissioning",
            ),
            rev.ResourceDecommissioned(
                occurred_at=T0 + timedelta(hours=2),
                request_id="d2",
                operation="decommission",
                outputs={"endpoint": "db:5432"},
            ),
        ]
    )
    assert gone.status == "decommissioned"
    assert gone.decommissioned_at == T0 + timedelta(hours=2)
    assert gone.requests[-1].ended_at == T0 + timedelta(hours=2)


def test_inputs_merge_only_the_items_fields_and_outputs_merge() -> None:
    current = {"name": "orders", "size": 10, "backup": False}
    merged = resources.merged_inputs(
        current, {"size": 20, "reason": "growth"}, {"name", "size", "backup"}
    )
    assert merged == {"name": "orders", "size": 20, "backup": False}
    # Without the item, only the keys the resource had move.
    assert resources.merged_inputs(current, {"size": 30, "reason": "x"}, set())["size"] == 30


# --- decisions on operation requests -------------------------------------------------------


def _op(operation: str = "update", who: Requester = ALICE, **kw: Any) -> SubmitRequest:
    return SubmitRequest(
        request_id=kw.pop("request_id", "op-1"),
        item_id=kw.pop("item_id", ITEM_ID),
        inputs=kw.pop("inputs", {"size": 20}),
        requester=who,
        resource_id="r1",
        operation=operation,
        **kw,
    )


def _target(state: ResourceState, operation: str = "update") -> resources.ResourceTarget:
    item = resource_item()
    return resources.ResourceTarget(state=state, item=item, operation=item.operation(operation))


@pytest.mark.parametrize(
    ("events", "msg", "reason"),
    [
        (0, _op(), "unknown resource 'r1'"),
        (1, _op(), "is busy with request p1 (provisioning)"),
        (3, _op(), "is busy with request d1 (decommission)"),
        (2, _op("resize"), "has no operation 'resize' (it declares: update, decommission"),
        (2, _op("audit"), "alice may not run 'audit' on pg-db"),
        (2, _op(who=MALLORY), "mallory is not in resource pg-orders (r1)'s owner team"),
        (2, _op(item_id="vm"), "is an instance of 'pg-db', not 'vm'"),
    ],
)
def test_operations_are_refused_with_a_reason(events: int, msg: SubmitRequest, reason: str) -> None:
    state = reduce_resource(_history()[:events])
    target = _target(state, msg.operation or "") if events else None
    refusal = resources.operation_refusal(msg, target)
    assert refusal is not None and reason in refusal


def test_a_decommissioned_or_failed_resource_refuses_operations() -> None:
    failed = reduce_resource(
        [
            _history()[0],
            rev.ResourceProvisioningFailed(
                occurred_at=T0, request_id="p1", error="boom", request_status="rolled_back"
            ),
        ]
    )
    assert "is failed, not active" in (resources.operation_refusal(_op(), _target(failed)) or "")
    gone = reduce_resource(_history()[:2]).model_copy(update={"status": "decommissioned"})
    assert "is decommissioned" in (resources.operation_refusal(_op(), _target(gone)) or "")
    admin = Requester(id="root", roles=("platform-admin",))
    active = _target(reduce_resource(_history()[:2]), "audit")
    assert resources.operation_refusal(_op("audit", admin), active) is None


# --- the service layer ---------------------------------------------------------------------


class World:
    def __init__(self, store: EventStore, outbox: Outbox) -> None:
        self.store = store
        self.outbox = outbox
        self.clock = FixedClock(T0)
        self.catalog = InMemoryItemCatalog([resource_item()])
        self.handler = self.new_handler()
        self.sent: list[OutboxMessage] = []

    def new_handler(self) -> RequestHandler:
        return RequestHandler(self.store, self.catalog, self.clock, TOPICS, {"environment": "t"})

    async def send(self, message: Any, handler: RequestHandler | None = None) -> str:
        self.clock.advance(1)
        return await (handler or self.handler).handle(message, f"m-{uuid.uuid4().hex}")

    async def request(self, request_id: str) -> Any:
        return reduce(await self.store.load(request_id))

    async def resource(self, resource_id: str) -> ResourceState:
        return reduce_resource(await self.store.load_resource(resource_id))

    async def answer(self, request_id: str, ok: bool = True, **outputs: Any) -> dict[str, Any]:
        """Answer the step in flight; return the inputs it was sent with."""
        state = await self.request(request_id)
        step = state.in_flight()
        assert step is not None and step.command_id is not None, state.status
        common = {
            "command_id": step.command_id,
            "request_id": request_id,
            "step_id": step.id,
            "attempt": step.attempts,
        }
        if ok:
            await self.send(ActionSucceeded(**common, outputs=outputs))
        else:
            await self.send(ActionFailed(**common, error="locked", retryable=False))
        return dict(step.inputs)

    async def provision(self, name: str, who: Requester = ALICE) -> tuple[str, str]:
        rid = f"prov-{name}-{uuid.uuid4().hex[:6]}"
        inputs = {"name": name, "size": 10}
        submit = SubmitRequest(request_id=rid, item_id=ITEM_ID, inputs=inputs, requester=who)
        await self.send(submit)
        await self.answer(rid, endpoint=f"{name}.db:5432")
        return rid, resource_id_for(rid)

    async def operate(
        self, resource_id: str, operation: str, inputs: dict[str, Any] | None = None, **kw: Any
    ) -> str:
        rid = f"op-{operation}-{uuid.uuid4().hex[:8]}"
        await self.send(
            SubmitRequest(
                request_id=rid,
                item_id=ITEM_ID,
                inputs=inputs or {},
                requester=kw.pop("who", ALICE),
                resource_id=resource_id,
                operation=operation,
            ),
            kw.pop("handler", None),
        )
        return rid

    async def published(self) -> list[OutboxMessage]:
        async def take(batch: list[OutboxMessage]) -> None:
            self.sent.extend(batch)

        while await self.outbox.relay(take):
            pass
        return self.sent


async def _world(request: pytest.FixtureRequest, database: str) -> AsyncIterator[World]:
    if request.param == "memory":
        mem = MemoryDatabase()
        yield World(InMemoryEventStore(mem), InMemoryOutbox(mem))
        return
    pool = await db.create_pool(request.getfixturevalue(database), max_size=5)
    try:
        yield World(PostgresEventStore(pool), PostgresOutbox(pool))
    finally:
        await pool.close()


BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """The shared test database will do: every test's ids are its own."""
    async for w in _world(request, "database_url"):
        yield w


@pytest.fixture(params=BACKENDS)
async def isolated_world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """A database of its own: a rebuild reads (and replaces) everything."""
    async for w in _world(request, "fresh_database_url"):
        yield w


async def test_provision_update_and_decommission(world: World) -> None:
    prov, res_id = await world.provision("orders")
    res = await world.resource(res_id)
    assert (res.status, res.name, res.owner_team, res.requester_id) == (
        "active",
        "pg-orders",
        "payments",
        "alice",
    )
    assert res.outputs == {"endpoint": "orders.db:5432", "password": "${secret:pg/orders}"}

    update = await world.operate(res_id, "update", {"size": 20, "reason": "growth"})
    assert (await world.resource(res_id)).status == "updating"
    sent = await world.answer(update)
    # The operation's step saw the resource (its outputs, its inputs before the change).
    assert sent == {"endpoint": "orders.db:5432", "size": 20, "was": 10, "resource": "pg-orders"}
    res = await world.resource(res_id)
    assert res.status == "active"
    assert res.inputs == {"name": "orders", "size": 20, "backup": False}  # no "reason"
    assert res.outputs["size_applied"] == 20 and res.outputs["endpoint"] == "orders.db:5432"
    assert (await world.request(update)).inputs["name"] == "orders"  # pre-filled

    failing = await world.operate(res_id, "decommission")
    assert (await world.resource(res_id)).status == "decommissioning"
    await world.answer(failing, ok=False)
    res = await world.resource(res_id)
    assert res.status == "active" and res.decommissioned_at is None
    assert res.requests[-1].request_id == failing and res.requests[-1].status == "failed"

    gone = await world.operate(res_id, "decommission")
    await world.answer(gone)
    res = await world.resource(res_id)
    assert res.status == "decommissioned" and res.outputs["dropped"] == "orders.db:5432"

    late = await world.operate(res_id, "update", {"size": 30})
    refused = await world.request(late)
    assert refused.status == "rejected" and "is decommissioned" in (refused.error or "")
    assert (await world.resource(res_id)).version == res.version  # a refusal writes nothing

    views = await world.store.resource_views()
    assert views[res_id] == resource_view_row(await world.resource(res_id))
    published = [m for m in await world.published() if m.topic == TOPICS.resource_events]
    assert {m.key for m in published} == {res_id}
    assert [m.ce_type.rsplit(".", 1)[1] for m in published] == [
        "provisioning-started",
        "provisioned",
        "operation-started",
        "updated",
        "operation-started",
        "operation-failed",
        "operation-started",
        "decommissioned",
    ]
    assert [m.body["version"] for m in published] == list(range(1, 9))
    assert published[3].body["request_id"] == update and published[3].body["operation"] == "update"
    assert (await world.request(prov)).status == "completed"


async def test_a_busy_resource_refuses_a_second_operation_naming_the_first(world: World) -> None:
    _, res_id = await world.provision("busy")
    first = await world.operate(res_id, "rotate")  # a manual ticket: stays open
    second = await world.operate(res_id, "update", {"size": 11})
    refused = await world.request(second)
    assert refused.status == "rejected"
    assert f"busy with request {first} (rotate)" in (refused.error or "")
    assert refused.resource_id == res_id and refused.operation == "update"
    # The first settles through its ticket; then the resource takes operations again.
    await world.answer(first, key="OPS-1", url="http://jira/OPS-1")
    await world.send(
        TicketResolved(request_id=first, ticket_key="OPS-1", outcome="done", resolution="Done")
    )
    assert (await world.resource(res_id)).status == "active"
    third = await world.operate(res_id, "update", {"size": 12})
    assert (await world.request(third)).status == "in_progress"
    await world.send(CancelRequest(request_id=third, by=ALICE, reason="changed my mind"))
    assert (await world.resource(res_id)).status == "updating"  # its step is still out
    await world.answer(third)
    res = await world.resource(res_id)
    assert res.status == "active" and res.requests[-1].status == "cancelled"
    assert res.inputs["size"] == 10


async def test_an_operation_rejected_by_its_approver_frees_the_resource(world: World) -> None:
    _, res_id = await world.provision("audited", who=Requester(id="al", teams=("payments", "dba")))
    audit = await world.operate(res_id, "audit", who=Requester(id="al", teams=("payments", "dba")))
    assert (await world.request(audit)).status == "awaiting_approval"
    assert (await world.resource(res_id)).status == "updating"
    await world.send(RejectRequest(request_id=audit, by=DBA, comment="not now"))
    res = await world.resource(res_id)
    assert res.status == "active" and res.requests[-1].status == "rejected"


@pytest.mark.integration
async def test_two_racing_operations_one_claims_the_other_is_refused(database_url: str) -> None:
    pool = await db.create_pool(database_url, max_size=6)
    try:
        world = World(PostgresEventStore(pool), PostgresOutbox(pool))
        _, res_id = await world.provision("race")
        replicas = [world.new_handler(), world.new_handler()]
        for _ in range(5):
            ids = await asyncio.gather(
                *(world.operate(res_id, "rotate", handler=h) for h in replicas)
            )
            states = [await world.request(i) for i in ids]
            assert sorted(s.status for s in states) == ["in_progress", "rejected"]
            [winner] = [s for s in states if s.status == "in_progress"]
            res = await world.resource(res_id)
            assert res.active_request_id == winner.request_id
            await world.send(CancelRequest(request_id=winner.request_id, by=ALICE))
            assert (await world.resource(res_id)).status == "active"
        # One claim and one release per round, nothing doubled or lost.
        assert (await world.resource(res_id)).version == 2 + 5 * 2
    finally:
        await pool.close()


async def test_rebuilt_resource_view_equals_the_live_one(isolated_world: World) -> None:
    world = isolated_world
    rng = random.Random(11)
    count = 300 if isinstance(world.store, InMemoryEventStore) else 120
    live: list[str] = []
    for n in range(count):
        roll = rng.random()
        if not live or roll < 0.35:
            rid = f"mix-{n}"
            await world.send(
                SubmitRequest(
                    request_id=rid,
                    item_id=ITEM_ID,
                    inputs={"name": f"db{n}", "size": 10},
                    requester=ALICE,
                )
            )
            await world.answer(rid, ok=rng.random() < 0.85, endpoint=f"db{n}:5432")
            live.append(resource_id_for(rid))
            continue
        res_id = rng.choice(live)
        operation = rng.choice(["update", "update", "decommission", "rotate"])
        inputs = {"size": rng.randint(1, 99)} if operation == "update" else {}
        req = await world.operate(res_id, operation, inputs)
        state = await world.request(req)
        if state.status == "rejected":
            continue
        assert state.status == "in_progress", state.error
        if operation == "rotate":
            await world.send(CancelRequest(request_id=req, by=ALICE))
        else:
            await world.answer(req, ok=rng.random() < 0.8)
    before = await world.store.resource_views()
    assert len(before) == len(set(live))
    statuses = {row["status"] for row in before.values()}
    assert {"active", "failed", "decommissioned"} <= statuses
    await rebuild(world.store)
    assert await world.store.resource_views() == before


def test_the_kafka_api_examples_read_as_the_contracts() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "kafka-api.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(\{\n.*?\n\})\n```", doc, re.S)]
    operation = [
        SubmitRequest.model_validate(b) for b in blocks if "requester" in b and "operation" in b
    ]
    assert operation and operation[0].resource_id and operation[0].operation == "update"
    [event] = [ResourceUpdated.model_validate(b) for b in blocks if "name" in b and "version" in b]
    assert event.status == "active" and event.outputs["password"].startswith("${secret:")

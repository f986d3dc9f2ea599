"""The service layer over real storage: idempotency, concurrency, timers, rebuild, catalog."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from pao_catalog_model.versions import latest_version
from pao_common import db
from pao_common.messages import (
    ActionSucceeded,
    CancelRequest,
    RejectRequest,
    Requester,
    SubmitRequest,
    resource_id_for,
)
from pao_common.topics import Topics
from pao_orchestrator.adapters.catalog import CatalogServiceItems
from pao_orchestrator.adapters.memory import (
    FixedClock,
    InMemoryEventStore,
    InMemoryItemCatalog,
    InMemoryOutbox,
    InMemoryTimerStore,
    MemoryDatabase,
)
from pao_orchestrator.adapters.postgres import (
    PostgresEventStore,
    PostgresOutbox,
    PostgresTimerStore,
)
from pao_orchestrator.domain import resource_events as rev
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.domain.resource_state import reduce_resource
from pao_orchestrator.errors import ItemNotFound
from pao_orchestrator.handler import RequestHandler
from pao_orchestrator.ports import (
    Commit,
    EventStore,
    Outbox,
    OutboxMessage,
    ResourceAppend,
    TimerStore,
)
from pao_orchestrator.projection import rebuild, resource_view_row, view_row
from pao_orchestrator.reconcile import redispatch_unanswered
from pao_orchestrator.timers import TimerPoller

from tests.orchestrator.items import ALICE, T0, automated_item, manual_item
from tests.support.catalog import history_api

TOPICS = Topics(".t-handler")
GATED = {"required": True, "approvers": {"teams": ["dba"]}, "expires_after": "2h"}
DAN = Requester(id="dan", email="dan@example.com", teams=("dba",))


@dataclass
class World:
    store: EventStore
    outbox: Outbox
    timers: TimerStore
    clock: FixedClock
    handler: RequestHandler

    async def published(self) -> list[OutboxMessage]:
        out: list[OutboxMessage] = []

        async def take(batch: list[OutboxMessage]) -> None:
            out.extend(batch)

        while await self.outbox.relay(take):
            pass
        return out


def _world(store: EventStore, outbox: Outbox, timers: TimerStore) -> World:
    clock = FixedClock(T0)
    gated = automated_item(approval=GATED, item_id="gated-db")
    catalog = InMemoryItemCatalog([automated_item(), manual_item(), gated])
    handler = RequestHandler(store, catalog, clock, TOPICS, {"environment": "test"})
    return World(store, outbox, timers, clock, handler)


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        mem = MemoryDatabase()
        yield _world(InMemoryEventStore(mem), InMemoryOutbox(mem), InMemoryTimerStore(mem))
        return
    # A database of its own: rebuilds and reconciliation read the whole log.
    pool = await db.create_pool(request.getfixturevalue("fresh_database_url"), max_size=5)
    try:
        yield _world(PostgresEventStore(pool), PostgresOutbox(pool), PostgresTimerStore(pool))
    finally:
        await pool.close()


def _submit(rid: str, item: str = "pg-db") -> SubmitRequest:
    return SubmitRequest(request_id=rid, item_id=item, inputs={"name": "orders"}, requester=ALICE)


def _rid() -> str:
    return f"req-{uuid.uuid4().hex[:10]}"


async def test_same_message_twice_records_one_set_of_events(world: World) -> None:
    rid = _rid()
    assert await world.handler.handle(_submit(rid), "msg-" + rid) == "committed"
    assert await world.handler.handle(_submit(rid), "msg-" + rid) == "duplicate"
    events = await world.store.load(rid)
    assert [e.event_type for e in events] == [
        "RequestSubmitted",
        "FulfilmentStarted",
        "StepDispatched",
    ]
    published = await world.published()
    commands = [m for m in published if m.ce_type == "pao.action.execute"]
    assert [m.topic for m in commands] == [TOPICS.actions("debug.log")]
    public = [m for m in published if m.topic == TOPICS.request_events]
    assert [m.body["version"] for m in public] == [1, 2, 3]
    assert public[-1].body["status"] == "in_progress"
    view = (await world.store.views())[rid]
    assert view["status"] == "in_progress" and view["item_version"] == "1.2.0"


async def test_a_refusal_is_published_once_and_records_no_request(world: World) -> None:
    rid = _rid()
    refusal = {
        "request_id": rid,
        "command_id": "forged-" + rid,
        "command_type": SubmitRequest.ce_type,
        "reason": "unauthenticated",
        "detail": "token expired",
    }

    async def refuse() -> str:
        return await world.handler.refuse(
            request_id=rid,
            command_id="forged-" + rid,
            command_type=SubmitRequest.ce_type,
            reason="unauthenticated",
            detail="token expired",
        )

    assert await refuse() == "committed"
    assert await refuse() == "duplicate"
    [told] = await world.published()
    assert (told.topic, told.key, told.ce_type) == (
        TOPICS.request_events,
        rid,
        "pao.request.command-refused",
    )
    assert told.message_id == f"forged-{rid}:refused"
    assert {k: told.body[k] for k in refusal} == refusal
    assert await world.store.load(rid) == [] and rid not in await world.store.views()
    # The refused command's id is not used up: a genuine command with it is handled.
    assert await world.handler.handle(_submit(rid), "forged-" + rid) == "committed"


async def test_a_second_submission_of_a_request_changes_nothing(world: World) -> None:
    """A submission's stream is assumed new; one that exists is decided on as stored."""
    rid = _rid()
    assert await world.handler.handle(_submit(rid), "first-" + rid) == "committed"
    fresh = RequestHandler(
        world.store, world.handler.catalog, world.clock, TOPICS, {"environment": "test"}
    )
    for handler in (world.handler, fresh):
        assert await handler.handle(_submit(rid), f"again-{id(handler)}-{rid}") == "no-op"
    assert [e.event_type for e in await world.store.load(rid)] == [
        "RequestSubmitted",
        "FulfilmentStarted",
        "StepDispatched",
    ]


async def test_two_writers_on_one_stream_both_land_in_order(world: World) -> None:
    rid = _rid()
    await world.handler.handle(_submit(rid), "submit-" + rid)
    state = reduce(await world.store.load(rid))
    step = state.step("create")
    assert step is not None and step.command_id is not None
    success = ActionSucceeded(
        command_id=step.command_id, request_id=rid, step_id="create", outputs={"host": "h"}
    )
    cancel = CancelRequest(request_id=rid, by=ALICE)
    outcomes = await asyncio.gather(
        world.handler.handle(success, "ok-" + rid), world.handler.handle(cancel, "cancel-" + rid)
    )
    assert list(outcomes) == ["committed", "committed"]
    final = reduce(await world.store.load(rid))
    types = [e.event_type for e in await world.store.load(rid)]
    assert "StepSucceeded" in types and "CancellationRequested" in types
    assert final.version == len(types)
    assert final.cancelling or final.status in ("rolling_back", "cancelled")


async def test_a_replica_with_a_stale_state_decides_on_the_stored_stream(world: World) -> None:
    """Replica A caches a request's state; the partition moves to B, which moves the
    request on; back at A, a result A's stale state knows nothing of is still handled."""
    rid = _rid()
    a = world.handler
    b = RequestHandler(world.store, a.catalog, world.clock, TOPICS, {"environment": "test"})
    await a.handle(_submit(rid), "submit-" + rid)
    create = reduce(await world.store.load(rid)).step("create")
    assert create is not None and create.command_id is not None
    done = ActionSucceeded(
        command_id=create.command_id, request_id=rid, step_id="create", outputs={"host": "h"}
    )
    assert await b.handle(done, "create-ok-" + rid) == "committed"
    grant = reduce(await world.store.load(rid)).step("grant")
    assert grant is not None and grant.command_id is not None
    granted = ActionSucceeded(command_id=grant.command_id, request_id=rid, step_id="grant")
    assert await a.handle(granted, "grant-ok-" + rid) == "committed"
    granted_step = reduce(await world.store.load(rid)).step("grant")
    assert granted_step is not None and granted_step.status == "succeeded"


class CountingLoads:
    """The store, counting the resource streams read."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self.resource_loads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def load_resource(self, resource_id: str) -> list[DomainEvent]:
        self.resource_loads += 1
        return await self._store.load_resource(resource_id)


async def _run_to_completion(handler: RequestHandler, store: EventStore, rid: str) -> None:
    """Answer the request's dispatched steps with successes until it is terminal."""
    for _ in range(10):
        state = reduce(await store.load(rid))
        if state.is_terminal:
            return
        step = state.in_flight()
        assert step is not None and step.command_id is not None
        done = ActionSucceeded(
            command_id=step.command_id, request_id=rid, step_id=step.id, outputs={"host": "h"}
        )
        assert await handler.handle(done, f"{step.id}-ok-" + rid) == "committed"
    raise AssertionError(f"{rid} not terminal")


async def test_a_provisioning_request_reads_no_resource_stream_on_its_own_replica(
    world: World,
) -> None:
    """The resource a submission opens is taken to be new and kept until the request
    settles it: no read of its stream, and the same resource as if it had been read."""
    rid = _rid()
    counting = CountingLoads(world.store)
    handler = RequestHandler(
        counting,  # type: ignore[arg-type]
        world.handler.catalog,
        world.clock,
        TOPICS,
        {"environment": "test"},
    )
    assert await handler.handle(_submit(rid), "submit-" + rid) == "committed"
    await _run_to_completion(handler, world.store, rid)
    assert counting.resource_loads == 0
    resource_id = resource_id_for(rid)
    stored = reduce_resource(await world.store.load_resource(resource_id))
    assert (stored.status, stored.version, stored.active_request_id) == ("active", 2, None)
    view = (await world.store.resource_views())[resource_id]
    assert (view["status"], view["last_version"]) == ("active", 2)


async def test_a_kept_resource_that_moved_on_is_read_again(world: World) -> None:
    """A kept resource state is a guess too: the resource stream's version check refuses
    it and the message is decided again on what is stored."""
    rid = _rid()
    a = world.handler
    assert await a.handle(_submit(rid), "submit-" + rid) == "committed"
    resource_id = resource_id_for(rid)
    # Someone else settles the resource behind replica A's back.
    opened = reduce_resource(await world.store.load_resource(resource_id))
    failed = rev.ResourceProvisioningFailed(
        occurred_at=T0, request_id=rid, error="elsewhere", request_status="failed"
    )
    request = reduce(await world.store.load(rid))
    await world.store.commit(
        Commit(
            stream_id=rid,
            expected_version=request.version,
            message_id="behind-" + rid,
            resource=ResourceAppend(
                stream_id=resource_id,
                expected_version=opened.version,
                events=[failed],
                view=resource_view_row(reduce_resource([failed], opened)),
            ),
        )
    )
    counting = CountingLoads(world.store)
    a.store = counting  # type: ignore[assignment]
    await _run_to_completion(a, world.store, rid)
    assert counting.resource_loads >= 1  # the conflict made A read the stream
    # A settled nothing on its stale guess: the stream is as the other writer left it.
    stored = reduce_resource(await world.store.load_resource(resource_id))
    assert (stored.version, stored.status, stored.error) == (2, "failed", "elsewhere")
    assert reduce(await world.store.load(rid)).status == "completed"


async def test_timers_fire_through_the_handler_once(world: World) -> None:
    rid = _rid()
    await world.handler.handle(_submit(rid), "submit-" + rid)
    poller = TimerPoller(world.timers, world.handler, world.clock)
    assert await poller.fire_due() == 0
    world.clock.advance(33)  # the step's timeout (30 s + grace)
    fired = await asyncio.gather(poller.fire_due(), poller.fire_due())
    assert sum(fired) == 1
    state = reduce(await world.store.load(rid))
    assert state.status == "failed"
    timed_out = state.step("create")
    assert timed_out is not None and timed_out.status == "timed_out"
    assert await world.timers.next_due() is None


async def test_rebuilt_projection_equals_the_live_one(world: World) -> None:
    ids = [_rid() for _ in range(6)]
    for n, rid in enumerate(ids):
        await world.handler.handle(_submit(rid, "vm" if n % 2 else "pg-db"), "s-" + rid)
    await world.handler.handle(CancelRequest(request_id=ids[0], by=ALICE), "c-" + ids[0])
    state = reduce(await world.store.load(ids[2]))
    step = state.step("create")
    assert step is not None and step.command_id is not None
    await world.handler.handle(
        ActionSucceeded(command_id=step.command_id, request_id=ids[2], step_id="create"),
        "ok-" + ids[2],
    )
    live = await world.store.views()
    await rebuild(world.store)
    rebuilt = await world.store.views()
    for rid in ids:
        assert rebuilt[rid] == live[rid]
        assert rebuilt[rid] == _normalised(view_row(reduce(await world.store.load(rid))), live[rid])


async def test_steps_an_ended_request_never_ran_read_skipped_with_why(world: World) -> None:
    rejected, cancelled, expired, failed, waiting = (_rid() for _ in range(5))
    for rid in (rejected, cancelled, expired):
        await world.handler.handle(_submit(rid, "gated-db"), "s-" + rid)
    await world.handler.handle(_submit(failed), "s-" + failed)
    await world.handler.handle(RejectRequest(request_id=rejected, by=DAN), "r-" + rejected)
    await world.handler.handle(CancelRequest(request_id=cancelled, by=ALICE), "c-" + cancelled)
    poller = TimerPoller(world.timers, world.handler, world.clock)
    world.clock.advance(33)  # the first step of ``failed`` times out
    await poller.fire_due()
    await world.handler.handle(_submit(waiting, "gated-db"), "s-" + waiting)
    world.clock.advance(2 * 3600 - 1)  # the approvals asked at the start expire, not this one
    await poller.fire_due()
    views = await world.store.views()

    def steps(rid: str) -> list[tuple[object, ...]]:
        shown = views[rid]["steps"]
        assert isinstance(shown, list)
        return [(s["id"], s["status"], s.get("skipped_reason")) for s in shown]

    names = ("create", "backup", "grant", "notify")
    for rid, status in ((rejected, "rejected"), (cancelled, "cancelled"), (expired, "expired")):
        assert views[rid]["status"] == status
        assert steps(rid) == [(n, "skipped", f"not run: request {status}") for n in names]
    assert views[failed]["status"] == "failed"
    assert steps(failed) == [
        ("create", "timed_out", None),
        *((n, "skipped", "not run: request failed") for n in names[1:]),
    ]
    # a request still waiting shows what is still to come as pending
    assert views[waiting]["status"] == "awaiting_approval"
    assert steps(waiting) == [(n, "pending", None) for n in names]
    # the stored steps stay as they were: the view says they will not run
    state = reduce(await world.store.load(rejected))
    assert [s.status for s in state.steps] == ["pending"] * 4


def _normalised(row: dict[str, object], like: dict[str, object]) -> dict[str, object]:
    # JSON columns come back as JSON; compare the computed row the same way
    return {k: json.loads(json.dumps(v, default=str)) if k in _JSON else v for k, v in row.items()}


_JSON = {"requester", "inputs", "outputs", "steps", "ticket", "approval"}


async def test_reconciliation_resends_unanswered_commands_with_the_same_id(world: World) -> None:
    rid = _rid()
    await world.handler.handle(_submit(rid), "s-" + rid)
    first = [m for m in await world.published() if m.ce_type == "pao.action.execute"]
    resent = await redispatch_unanswered(world.store, TOPICS)
    assert resent >= 1
    again = [m for m in await world.published() if m.key == rid]
    assert [m.body["command_id"] for m in again] == [first[0].body["command_id"]]


@pytest.mark.integration
async def test_catalog_items_pin_and_pick_latest(db_pool: asyncpg.Pool) -> None:
    item_id = f"it-{uuid.uuid4().hex[:8]}"
    for version, retired in (("1.2.0", False), ("1.10.0", False), ("2.0.0", True)):
        doc = automated_item(version=version).to_document()
        doc["metadata"]["id"] = item_id
        await db_pool.execute(
            "INSERT INTO catalog_item_versions (item_id, version, content_hash, document,"
            " retired_at) VALUES ($1, $2, 'h', $3::jsonb, CASE WHEN $4 THEN now() END)",
            item_id,
            version,
            json.dumps(doc),
            retired,
        )
    catalog = CatalogServiceItems(history_api(db_pool))  # the catalog's API
    assert (await catalog.get(item_id)).metadata.version == "1.10.0"
    assert (await catalog.get(item_id, "2.0.0")).metadata.version == "2.0.0"  # pinned: served
    with pytest.raises(ItemNotFound):
        await catalog.get(item_id, "9.9.9")
    with pytest.raises(ItemNotFound):
        await catalog.get("no-such-item")


def test_latest_version_is_semantic() -> None:
    assert latest_version(["1.9.0", "1.10.0", "1.2.3"]) == "1.10.0"
    assert latest_version([]) is None

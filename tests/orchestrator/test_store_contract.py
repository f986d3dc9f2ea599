"""One contract for the storage ports, run against PostgreSQL and the in-memory adapters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import pytest
from pao_common.messages import Requester
from pao_orchestrator.adapters.memory import (
    InMemoryEventStore,
    InMemoryOutbox,
    InMemoryTimerStore,
    MemoryDatabase,
)
from pao_orchestrator.adapters.postgres import (
    PostgresEventStore,
    PostgresOutbox,
    PostgresTimerStore,
)
from pao_orchestrator.domain import events as ev
from pao_orchestrator.errors import ConcurrencyError, DuplicateMessage
from pao_orchestrator.ports import (
    Commit,
    EventStore,
    Outbox,
    OutboxMessage,
    Timer,
    TimerStore,
)

from tests.orchestrator.items import T0


@dataclass
class Stores:
    events: EventStore
    outbox: Outbox
    timers: TimerStore


def _submitted(stream: str) -> ev.RequestSubmitted:
    return ev.RequestSubmitted(
        occurred_at=T0,
        request_id=stream,
        item_id="pg-db",
        item_version="1.0.0",
        mode="automated",
        requester=Requester(id="alice"),
    )


def _msg(n: int, key: str = "k") -> OutboxMessage:
    return OutboxMessage(
        message_id=f"m-{uuid.uuid4().hex}-{n}",
        topic="t",
        key=key,
        ce_type="pao.test",
        body={"n": n},
    )


def _timer(stream: str, name: str, due_in_s: float) -> Timer:
    return Timer(
        timer_id=f"{stream}/{name}",
        stream_id=stream,
        kind="retry",
        due_at=T0 + timedelta(seconds=due_in_s),
        payload={"name": name},
    )


def _view(stream: str, version: int, status: str = "in_progress") -> dict[str, object]:
    return {
        "request_id": stream,
        "item_id": "pg-db",
        "item_version": "1.0.0",
        "status": status,
        "requester_id": "alice",
        "requester_teams": ["a"],
        "requester": {"id": "alice"},
        "inputs": {"x": 1},
        "outputs": {},
        "steps": [{"id": "s", "status": "running"}],
        "ticket": None,
        "approval": None,
        "error": None,
        "idempotency_key": None,
        "last_version": version,
        "submitted_at": T0,
        "updated_at": T0,
        "completed_at": None,
    }


class StoreContract:
    """The behaviour every adapter set must have. Subclasses provide ``stores``."""

    @pytest.fixture
    def stream(self) -> str:
        return f"req-{uuid.uuid4().hex[:10]}"

    async def test_append_and_load(self, stores: Stores, stream: str) -> None:
        first = _submitted(stream)
        await stores.events.commit(Commit(stream, 0, [first], message_id=f"{stream}-m1"))
        started = ev.FulfilmentStarted(occurred_at=T0, mode="automated")
        await stores.events.commit(Commit(stream, 1, [started], message_id=f"{stream}-m2"))
        assert await stores.events.load(stream) == [first, started]
        assert await stores.events.load(stream, after_version=1) == [started]
        assert await stores.events.is_processed(f"{stream}-m1")
        assert not await stores.events.is_processed(f"{stream}-other")
        assert await stores.events.load_unless_processed(stream, f"{stream}-m2") is None
        unseen = await stores.events.load_unless_processed(stream, f"{stream}-other")
        assert unseen == [first, started]
        assert await stores.events.load_unless_processed(f"{stream}-new", f"{stream}-x") == []

    async def test_stale_version_is_a_concurrency_error_and_writes_nothing(
        self, stores: Stores, stream: str
    ) -> None:
        await stores.events.commit(
            Commit(stream, 0, [_submitted(stream)], message_id=f"{stream}-a")
        )
        losing = Commit(
            stream,
            0,
            [_submitted(stream)],
            message_id=f"{stream}-b",
            outbox=[_msg(1)],
            timers=[_timer(stream, "t", 0)],
        )
        with pytest.raises(ConcurrencyError):
            await stores.events.commit(losing)
        assert len(await stores.events.load(stream)) == 1
        assert not await stores.events.is_processed(f"{stream}-b")
        assert await stores.timers.claim_due(T0 + timedelta(days=1)) == []

    async def test_duplicate_message_is_refused(self, stores: Stores, stream: str) -> None:
        await stores.events.commit(
            Commit(stream, 0, [_submitted(stream)], message_id=f"{stream}-a")
        )
        again = Commit(
            stream, 1, [ev.FulfilmentStarted(occurred_at=T0, mode="manual")], f"{stream}-a"
        )
        with pytest.raises(DuplicateMessage):
            await stores.events.commit(again)
        assert len(await stores.events.load(stream)) == 1

    async def test_outbox_publishes_in_order_and_deletes(self, stores: Stores, stream: str) -> None:
        messages = [_msg(n) for n in range(5)]
        await stores.events.commit(Commit(stream, 0, [], outbox=messages))
        seen: list[OutboxMessage] = []

        async def publish(batch: list[OutboxMessage]) -> None:
            seen.extend(batch)

        assert await stores.outbox.relay(publish) == 5
        assert [m.body for m in seen] == [{"n": n} for n in range(5)]
        assert await stores.outbox.pending() == 0
        assert await stores.outbox.relay(publish) == 0

    async def test_outbox_sweep_leaves_young_rows_and_delete_forgets(
        self, stores: Stores, stream: str
    ) -> None:
        first, second = _msg(1), _msg(2)
        await stores.events.commit(Commit(stream, 0, [], outbox=[first, second]))
        seen: list[OutboxMessage] = []

        async def publish(batch: list[OutboxMessage]) -> None:
            seen.extend(batch)

        assert await stores.outbox.relay(publish, min_age_s=60) == 0, "too young to sweep"
        await stores.outbox.delete([first.message_id])  # the fast path published it
        assert await stores.outbox.relay(publish) == 1
        assert [m.body for m in seen] == [{"n": 2}]
        assert await stores.outbox.pending() == 0

    async def test_outbox_keeps_rows_when_publishing_fails(
        self, stores: Stores, stream: str
    ) -> None:
        await stores.events.commit(Commit(stream, 0, [], outbox=[_msg(1)]))

        async def broken(batch: list[OutboxMessage]) -> None:
            raise ConnectionError("broker down")

        with pytest.raises(ConnectionError):
            await stores.outbox.relay(broken)
        assert await stores.outbox.pending() == 1

    async def test_timers_are_claimed_once_per_lease(self, stores: Stores, stream: str) -> None:
        timers = [_timer(stream, "soon", 1), _timer(stream, "later", 100)]
        await stores.events.commit(Commit(stream, 0, [], timers=timers))
        assert await stores.timers.next_due() == T0 + timedelta(seconds=1)
        assert await stores.timers.claim_due(T0) == []
        claimed = await stores.timers.claim_due(T0 + timedelta(seconds=5), lease_s=30)
        assert [t.timer_id for t in claimed] == [f"{stream}/soon"]
        assert claimed[0].payload == {"name": "soon"}
        assert await stores.timers.claim_due(T0 + timedelta(seconds=6)) == []
        # the claimer died: the lease lapses and someone else fires it
        again = await stores.timers.claim_due(T0 + timedelta(seconds=40))
        assert [t.timer_id for t in again] == [f"{stream}/soon"]
        await stores.events.commit(Commit(stream, 0, [], cancel_timers=[f"{stream}/soon"]))
        assert await stores.timers.claim_due(T0 + timedelta(seconds=80)) == []
        assert await stores.timers.next_due() == T0 + timedelta(seconds=100)

    async def test_concurrent_claimers_never_share_a_timer(
        self, stores: Stores, stream: str
    ) -> None:
        timers = [_timer(stream, f"t{n}", 0) for n in range(40)]
        await stores.events.commit(Commit(stream, 0, [], timers=timers))
        now = T0 + timedelta(seconds=1)
        a, b = await asyncio.gather(
            stores.timers.claim_due(now, limit=25), stores.timers.claim_due(now, limit=25)
        )
        ids_a, ids_b = {t.timer_id for t in a}, {t.timer_id for t in b}
        assert not ids_a & ids_b
        assert ids_a | ids_b == {t.timer_id for t in timers}

    async def test_views_upsert_keeps_the_newest_and_rebuild_replaces(
        self, stores: Stores, stream: str
    ) -> None:
        await stores.events.commit(Commit(stream, 0, [], view=_view(stream, 3)))
        await stores.events.commit(Commit(stream, 0, [], view=_view(stream, 2, "submitted")))
        views = await stores.events.views()
        assert views[stream]["status"] == "in_progress"
        assert views[stream]["steps"] == [{"id": "s", "status": "running"}]
        assert views[stream]["requester_teams"] == ["a"]
        assert stream in await stores.events.open_streams()
        await stores.events.replace_views([_view(stream, 4, "completed")], truncate=True)
        views = await stores.events.views()
        assert views[stream]["status"] == "completed"
        assert stream not in await stores.events.open_streams()


class TestInMemoryStores(StoreContract):
    @pytest.fixture
    def stores(self) -> Stores:
        db = MemoryDatabase()
        return Stores(InMemoryEventStore(db), InMemoryOutbox(db), InMemoryTimerStore(db))


@pytest.mark.integration
class TestPostgresStores(StoreContract):
    @pytest.fixture
    async def stores(self, db_pool: asyncpg.Pool) -> AsyncIterator[Stores]:
        # outbox and timers are shared tables: start each test with them empty
        await db_pool.execute("DELETE FROM outbox; DELETE FROM timers")
        yield Stores(
            PostgresEventStore(db_pool), PostgresOutbox(db_pool), PostgresTimerStore(db_pool)
        )

    async def test_prune_forgets_only_old_message_ids(
        self, stores: Stores, stream: str, db_pool: asyncpg.Pool
    ) -> None:
        for n in (1, 2):
            await stores.events.commit(Commit(stream, 0, [], message_id=f"{stream}-{n}"))
        await db_pool.execute(
            "UPDATE processed_messages SET processed_at = now() - interval '30 days'"
            " WHERE message_id = $1",
            f"{stream}-1",
        )
        assert isinstance(stores.events, PostgresEventStore)
        assert await stores.events.prune_processed(14 * 86_400) >= 1
        assert not await stores.events.is_processed(f"{stream}-1")
        assert await stores.events.is_processed(f"{stream}-2")

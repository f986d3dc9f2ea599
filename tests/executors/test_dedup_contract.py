"""One contract for every ``DedupStore`` adapter: in-memory and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pao_common.cloudevents import CloudEvent
from pao_common.executor import DedupStore, InMemoryDedupStore, PostgresDedupStore
from pao_common.executor.testing import compensate_command, execute_command


def answer(command_id: str, outcome: str = "ok") -> CloudEvent:
    return CloudEvent(
        type="pao.action.succeeded",
        source="test",
        subject="req-1",
        data={"command_id": command_id, "outcome": outcome},
    )


class DedupStoreContract:
    """Subclasses provide ``store``."""

    async def test_first_claim_wins_and_a_live_claim_blocks(self, store: DedupStore) -> None:
        command = execute_command("debug.log", {"message": "x"})
        first = await store.claim(command, executor="debug", owner="a", lease_s=60)
        assert (first.state, first.takeover) == ("claimed", False)
        second = await store.claim(command, executor="debug", owner="b", lease_s=60)
        assert second.state == "running" and second.result is None

    async def test_completed_command_returns_the_stored_answer(self, store: DedupStore) -> None:
        command = compensate_command("debug.log", {}, {"message": "x"})
        await store.claim(command, executor="debug", owner="a", lease_s=60)
        event = answer(command.command_id)
        assert await store.complete(command.command_id, event) == event
        again = await store.claim(command, executor="debug", owner="b", lease_s=60)
        assert again.state == "completed" and again.result == event

    async def test_first_recorded_answer_wins(self, store: DedupStore) -> None:
        command = execute_command("debug.log", {"message": "x"})
        await store.claim(command, executor="debug", owner="a", lease_s=60)
        first = answer(command.command_id, "first")
        assert await store.complete(command.command_id, first) == first
        assert await store.complete(command.command_id, answer(command.command_id, "late")) == first

    async def test_expired_claim_is_taken_over(self, store: DedupStore) -> None:
        command = execute_command("debug.log", {"message": "x"})
        await store.claim(command, executor="debug", owner="a", lease_s=0)
        again = await store.claim(command, executor="debug", owner="b", lease_s=60)
        assert (again.state, again.takeover) == ("claimed", True)
        assert (await store.claim(command, executor="debug", owner="c", lease_s=60)).state == (
            "running"
        )

    async def test_commands_are_independent(self, store: DedupStore) -> None:
        one = execute_command("debug.log", {"message": "x"})
        two = execute_command("debug.log", {"message": "x"}, request_id=one.request_id)
        assert (await store.claim(one, executor="debug", owner="a", lease_s=60)).state == "claimed"
        assert (await store.claim(two, executor="debug", owner="a", lease_s=60)).state == "claimed"


class TestInMemoryDedupStore(DedupStoreContract):
    @pytest.fixture
    def store(self) -> DedupStore:
        return InMemoryDedupStore()


@pytest.mark.integration
class TestPostgresDedupStore(DedupStoreContract):
    @pytest.fixture
    async def store(self, db_pool: asyncpg.Pool) -> AsyncIterator[DedupStore]:
        yield PostgresDedupStore(db_pool)

    async def test_rows_record_the_command_and_prune_forgets_answers(
        self, db_pool: asyncpg.Pool
    ) -> None:
        store = PostgresDedupStore(lambda: db_pool)
        command = execute_command("debug.wait", {"seconds": 1}, attempt=2, step_id="s-9")
        await store.claim(command, executor="debug", owner="a", lease_s=60)
        row = await db_pool.fetchrow(
            "SELECT * FROM executor_commands WHERE command_id = $1", command.command_id
        )
        assert row is not None
        assert (row["executor"], row["action_type"], row["kind"], row["attempt"]) == (
            "debug",
            "debug.wait",
            "execute",
            2,
        )
        assert (row["request_id"], row["step_id"], row["state"]) == (
            command.request_id,
            "s-9",
            "running",
        )
        await store.complete(command.command_id, answer(command.command_id))
        await db_pool.execute(
            "UPDATE executor_commands SET completed_at = now() - interval '2 days'"
            " WHERE command_id = $1",
            command.command_id,
        )
        assert await store.prune(older_than_s=86_400) >= 1
        fresh = await store.claim(command, executor="debug", owner="b", lease_s=60)
        assert fresh.state == "claimed", "a pruned answer is forgotten"

    async def test_unknown_command_complete_returns_the_given_answer(
        self, db_pool: asyncpg.Pool
    ) -> None:
        event = answer(f"never-claimed-{uuid.uuid4().hex}")
        assert await PostgresDedupStore(db_pool).complete(event.data["command_id"], event) == event

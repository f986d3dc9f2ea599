"""The debug executor on the real broker and PostgreSQL: commands published with bare aiokafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pao_common.executor import ActionRunner
from pao_common.settings import Profile, Settings
from pao_common.topics import Topics
from pao_executors.debug import create_app
from prometheus_client import REGISTRY

from tests.executors.kafka_io import Producer, Reader, ce_headers, execute_body, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def debug_settings(kafka_bootstrap: str, database_url: str) -> Settings:
    """One set of topics for the module: every executor instance joins the consumer group
    ``pao-executor-debug``, and a group takes seconds to settle after a member leaves, so the
    tests share one in-process executor (they use their own command and request ids)."""
    return Settings(
        profile=Profile.TEST,
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url="",
        topic_suffix=f".t-debug-{uuid.uuid4().hex[:8]}",
        topic_partitions=3,
    )


@pytest.fixture(scope="module")
async def executor_app(debug_settings: Settings) -> AsyncIterator[ActionRunner]:
    app = create_app(debug_settings)
    async with serving(app):
        runner: ActionRunner = app.state.action_runner
        yield runner


async def side_effects(pool: asyncpg.Pool, command_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT * FROM debug_side_effects WHERE command_id = $1 ORDER BY id", command_id
    )
    return rows


def duplicates(state: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "pao_executor_duplicate_commands_total", {"executor": "debug", "state": state}
        )
        or 0.0
    )


async def test_execute_and_compensate_through_kafka(
    debug_settings: Settings, executor_app: ActionRunner, db_pool: asyncpg.Pool
) -> None:
    topics = Topics(debug_settings.topic_suffix)
    body = execute_body("debug.log", {"message": "hello kafka"}, step_id="greet")
    undo = execute_body(
        "debug.log",
        {"message": "hello kafka"},
        request_id=body["request_id"],
        outputs={"message": "hello kafka"},
    )
    async with (
        Reader(debug_settings.kafka_bootstrap, topics.action_results) as reader,
        Producer(debug_settings.kafka_bootstrap) as producer,
    ):
        await producer.command(topics.actions("debug"), body)
        await reader.wait(lambda: len(reader.for_command(body["command_id"])) >= 1)
        await producer.command(topics.actions("debug"), undo, ce_type="pao.action.compensate")
        await reader.wait(lambda: len(reader.for_command(undo["command_id"])) >= 1)

    # Answered within STARTED_AFTER_S: no ActionStarted (it would have come before).
    [succeeded] = reader.for_command(body["command_id"])
    assert succeeded.type == "pao.action.succeeded"
    assert succeeded.key == body["request_id"].encode()
    assert succeeded.headers["ce_subject"] == body["request_id"]
    assert succeeded.headers["ce_source"] == "executor-debug"
    assert succeeded.body["outputs"]["message"] == "hello kafka"
    assert succeeded.body["step_id"] == "greet"
    compensated = reader.for_command(undo["command_id"])[-1]
    assert compensated.type == "pao.action.succeeded" and compensated.body["compensation"]

    [effect] = await side_effects(db_pool, body["command_id"])
    assert (effect["request_id"], effect["step_id"], effect["kind"], effect["attempt"]) == (
        body["request_id"],
        "greet",
        "execute",
        1,
    )
    [undone] = await side_effects(db_pool, undo["command_id"])
    assert undone["kind"] == "compensate"
    state = await db_pool.fetchval(
        "SELECT state FROM executor_commands WHERE command_id = $1", body["command_id"]
    )
    assert state == "completed"


async def test_duplicate_commands_cause_one_side_effect(
    debug_settings: Settings, executor_app: ActionRunner, db_pool: asyncpg.Pool
) -> None:
    topics = Topics(debug_settings.topic_suffix)
    done = execute_body("debug.log", {"message": "once"})
    slow = execute_body("debug.wait", {"seconds": 1, "progress_every_s": 0.5})
    running_before, completed_before = duplicates("running"), duplicates("completed")
    async with Reader(debug_settings.kafka_bootstrap, topics.action_results) as reader:

        def answers(command_id: str) -> list[str]:
            return [
                r.headers["ce_id"]
                for r in reader.for_command(command_id)
                if r.type in ("pao.action.succeeded", "pao.action.failed")
            ]

        async with Producer(debug_settings.kafka_bootstrap) as producer:
            # A copy of a command that is still running: ignored.
            await producer.command(topics.actions("debug"), slow)
            await producer.command(topics.actions("debug"), slow)
            await reader.wait(lambda: len(answers(slow["command_id"])) == 1)
            # A copy of a command that was answered: answered again, not re-run.
            await producer.command(topics.actions("debug"), done)
            await reader.wait(lambda: len(answers(done["command_id"])) == 1)
            await producer.command(topics.actions("debug"), done)
            await reader.wait(lambda: len(answers(done["command_id"])) == 2)

    assert len(await side_effects(db_pool, slow["command_id"])) == 1
    assert len(await side_effects(db_pool, done["command_id"])) == 1
    first, again = answers(done["command_id"])
    assert first == again, "the stored answer, with its event id, is sent again"
    assert len(answers(slow["command_id"])) == 1
    assert duplicates("running") == running_before + 1
    assert duplicates("completed") == completed_before + 1


async def test_malformed_commands_go_to_the_dlq_and_consumption_goes_on(
    debug_settings: Settings, executor_app: ActionRunner
) -> None:
    topics = Topics(debug_settings.topic_suffix)
    topic = topics.actions("debug")
    no_command_id = execute_body("debug.log", {"message": "x"})
    del no_command_id["command_id"]
    good = execute_body("debug.log", {"message": "after the bad ones"})
    async with (
        Reader(debug_settings.kafka_bootstrap, topics.dlq, topics.action_results) as reader,
        Producer(debug_settings.kafka_bootstrap) as producer,
    ):
        await producer.raw(
            topic, b"{broken", key=b"r-1", headers=ce_headers("pao.action.execute", "r-1")
        )
        await producer.command(topic, no_command_id)
        await producer.command(
            topic, execute_body("debug.log", {"message": "x"}), ce_type="pao.request.submit"
        )
        await producer.command(topic, good)
        await reader.wait(lambda: len(reader.where(lambda r: r.topic == topics.dlq)) == 3)
        await reader.wait(lambda: len(reader.for_command(good["command_id"])) >= 1)

    dead = reader.where(lambda r: r.topic == topics.dlq)
    reasons = sorted(r.headers["pao_dlq_reason"] for r in dead)
    assert reasons[0].startswith("body is not JSON")
    assert reasons[1].startswith("invalid pao.action.execute body: command_id: Field required")
    assert reasons[2].startswith("unknown ce_type 'pao.request.submit'")
    assert all(r.headers["pao_dlq_source_topic"] == topic for r in dead)
    assert all(r.headers["pao_dlq_consumer"] == "executor-debug" for r in dead)
    assert any(r.value == b"{broken" for r in dead), "the original value is kept"
    assert reader.for_command(good["command_id"])[-1].type == "pao.action.succeeded"


async def test_invalid_inputs_are_answered_not_dead_lettered(
    debug_settings: Settings, executor_app: ActionRunner, db_pool: asyncpg.Pool
) -> None:
    topics = Topics(debug_settings.topic_suffix)
    body = execute_body("debug.wait", {"seconds": "soon"})
    async with (
        Reader(debug_settings.kafka_bootstrap, topics.action_results) as reader,
        Producer(debug_settings.kafka_bootstrap) as producer,
    ):
        await producer.command(topics.actions("debug"), body)
        await reader.wait(lambda: len(reader.for_command(body["command_id"])) >= 1)
    [failed] = reader.for_command(body["command_id"])
    assert failed.type == "pao.action.failed"
    assert failed.body["retryable"] is False
    assert failed.body["details"]["fields"][0]["field"] == "seconds"
    assert await side_effects(db_pool, body["command_id"]) == []

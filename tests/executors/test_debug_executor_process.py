"""The debug executor as a real process: secrets reach actions, never logs or results."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import httpx
import pytest
from pao_common.settings import Settings
from pao_common.topics import Topics

from tests.executors.kafka_io import Producer, Reader, execute_body
from tests.support.services import ServiceProcess, service_env

pytestmark = pytest.mark.integration


@pytest.mark.slow
async def test_service_process_masks_secrets_everywhere(
    settings: Settings, tmp_path: Path, db_pool: asyncpg.Pool
) -> None:
    """``python -m pao_executors.debug``: a secret reaches the action, never a log or a result."""
    secret = "s3cr3t-" + tmp_path.name[-12:] + "-value"
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "file-token").write_text("file-" + secret + "\n")
    env = service_env(settings, PAO_SECRET_DEBUG_TOKEN=secret, PAO_SECRETS_DIR=str(secrets_dir))
    service = ServiceProcess("pao_executors.debug", env, tmp_path).start()
    topics = Topics(settings.topic_suffix)
    log_it = execute_body(
        "debug.log", {"message": "token=${secret:debug-token} file=${secret:file-token}"}
    )
    fail_it = execute_body(
        "debug.fail", {"error": "rejected ${secret:debug-token}", "retryable": True}
    )
    try:
        async with (
            Reader(settings.kafka_bootstrap, topics.action_results) as reader,
            Producer(settings.kafka_bootstrap) as producer,
        ):
            await producer.command(topics.actions("debug"), log_it)
            await producer.command(topics.actions("debug"), fail_it)
            await reader.wait(
                lambda: all(
                    len(reader.for_command(b["command_id"])) >= 1 for b in (log_it, fail_it)
                )
            )
        async with httpx.AsyncClient(base_url=service.url) as client:
            actions = (await client.get("/actions")).json()
            metrics = (await client.get("/metrics")).text
    finally:
        service.stop()

    logged = reader.for_command(log_it["command_id"])[-1]
    assert logged.body["outputs"]["message"] == "token=*** file=***"
    failed = reader.for_command(fail_it["command_id"])[-1]
    assert failed.body["error"] == "rejected *** (attempt 1)" and failed.body["retryable"]
    for record in reader.records:
        assert secret not in record.value.decode()
        assert secret not in json.dumps(record.headers)
    log_text = service.log_path.read_text()
    assert "debug.log: token=*** file=***" in log_text, "the action did log the message"
    assert secret not in log_text
    stored = await db_pool.fetch(
        "SELECT result::text AS r FROM executor_commands WHERE request_id = ANY($1)",
        [log_it["request_id"], fail_it["request_id"]],
    )
    assert len(stored) == 2 and all(secret not in row["r"] for row in stored)

    assert {a["action_type"] for a in actions["actions"]} == {
        "debug.log",
        "debug.wait",
        "debug.fail",
    }
    assert actions["topic"] == topics.actions("debug")
    assert 'pao_executor_actions_total{action_type="debug.log"' in metrics
    assert 'outcome="retryable_failure"' in metrics

"""``python -m pao_executors.terraform`` as a real process on the broker, against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from pao_common.settings import Settings
from pao_common.topics import Topics

from tests.executors.kafka_io import Producer, Reader, execute_body
from tests.support.sandbox import TFC_TOKEN, SandboxServer
from tests.support.services import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_service_applies_compensates_and_masks_secrets(
    settings: Settings, sandbox: SandboxServer, tmp_path: Path
) -> None:
    password = "pw-" + tmp_path.name[-12:] + "-value"
    env = service_env(
        settings,
        PAO_TFC_URL=sandbox.tfc_url,
        PAO_TFC_TOKEN=TFC_TOKEN,
        PAO_TFC_ORGANIZATION="pao",
        PAO_TERRAFORM_POLL_INITIAL_S="0.05",
        PAO_SECRET_DB_PASSWORD=password,
    )
    service = ServiceProcess("pao_executors.terraform", env, tmp_path).start()
    topics = Topics(settings.topic_suffix)
    inputs = {
        "workspace": "pg-dev-orders",
        "variables": {"name": "orders", "password": "${secret:db-password}"},
    }
    apply = execute_body("terraform", inputs)
    undo = execute_body(
        "terraform",
        {"workspace": "pg-dev-orders", "destroy": True},
        request_id=apply["request_id"],
        outputs={},
    )
    done = ("pao.action.succeeded", "pao.action.failed")
    try:
        async with (
            Reader(settings.kafka_bootstrap, topics.action_results) as reader,
            Producer(settings.kafka_bootstrap) as producer,
        ):
            await producer.command(topics.actions("terraform"), apply)
            await reader.wait(
                lambda: any(r.type in done for r in reader.for_command(apply["command_id"]))
            )
            await producer.command(
                topics.actions("terraform"), undo, ce_type="pao.action.compensate"
            )
            await reader.wait(
                lambda: any(r.type in done for r in reader.for_command(undo["command_id"]))
            )
    finally:
        service.stop()

    applied = reader.for_command(apply["command_id"])[-1]
    undone = reader.for_command(undo["command_id"])[-1]
    assert applied.type == "pao.action.succeeded", applied.body
    assert applied.body["outputs"]["name"] == "orders"
    assert applied.body["outputs"]["sensitive_outputs"] == ["password"]
    assert undone.type == "pao.action.succeeded" and undone.body["compensation"]
    runs = sandbox.state("tfc")["runs"]
    assert [(r["is-destroy"], r["status"]) for r in runs] == [(False, "applied"), (True, "applied")]

    log_text = service.log_path.read_text()
    assert "terraform executor: Terraform Cloud at" in log_text
    for record in reader.records:
        assert password not in record.value.decode() and TFC_TOKEN not in record.value.decode()
    assert password not in log_text and TFC_TOKEN not in log_text

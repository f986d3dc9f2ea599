"""``python -m pao_executors.github`` as a real process on the broker, against the sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from pao_common.settings import Settings
from pao_common.topics import Topics

from tests.executors.kafka_io import Producer, Reader, execute_body
from tests.executors_github.conftest import app_private_key
from tests.support.sandbox import SandboxServer
from tests.support.services import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_service_dispatches_as_an_app_and_masks_every_credential(
    settings: Settings, sandbox: SandboxServer, tmp_path: Path
) -> None:
    key = await asyncio.to_thread(app_private_key, sandbox)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "github-app-private-key").write_text(key)
    deploy_token = "deploy-" + tmp_path.name[-12:] + "-value"
    env = service_env(
        settings,
        PAO_GITHUB_API_URL=sandbox.github_url,
        PAO_GITHUB_APP_ID="1001",
        PAO_GITHUB_POLL_INITIAL_S="0.05",
        PAO_SECRETS_DIR=str(secrets_dir),
        PAO_SECRET_DEPLOY_TOKEN=deploy_token,
    )
    service = ServiceProcess("pao_executors.github", env, tmp_path).start()
    topics = Topics(settings.topic_suffix)
    step = {
        "owner": "acme",
        "repo": "infra",
        "workflow": "deploy.yml",
        "inputs": {"env": "dev", "token": "${secret:deploy-token}"},
    }
    body = execute_body("github-workflow", step)
    try:
        async with (
            Reader(settings.kafka_bootstrap, topics.action_results) as reader,
            Producer(settings.kafka_bootstrap) as producer,
        ):
            await producer.command(topics.actions("github-workflow"), body)
            await reader.wait(
                lambda: any(
                    r.type in ("pao.action.succeeded", "pao.action.failed")
                    for r in reader.for_command(body["command_id"])
                )
            )
        async with httpx.AsyncClient(base_url=service.url) as client:
            actions = (await client.get("/actions")).json()
    finally:
        service.stop()

    answer = reader.for_command(body["command_id"])[-1]
    assert answer.type == "pao.action.succeeded", answer.body
    [run] = sandbox.state("github")["runs"]
    assert answer.body["outputs"]["run_id"] == run["id"]
    assert run["inputs"]["token"] == deploy_token  # the workflow got the secret ...
    assert answer.body["outputs"]["inputs"]["token"] == "***"  # ... the result did not
    assert actions["topic"] == topics.actions("github-workflow")
    assert [a["action_type"] for a in actions["actions"]] == ["github-workflow"]

    tokens = {
        r["headers"]["authorization"].split()[-1]
        for r in sandbox.requests("github")
        if r["headers"].get("authorization")
    }
    assert any(t.startswith("ghs_") for t in tokens) and any(t.startswith("ey") for t in tokens)
    secrets = {deploy_token, *tokens, *(line for line in key.splitlines() if len(line) >= 16)}
    log_text = service.log_path.read_text()
    assert "github-workflow executor: " in log_text and "authenticated by app" in log_text
    published = "\n".join(r.value.decode() + json.dumps(r.headers) for r in reader.records)
    for secret in secrets:
        assert secret not in log_text
        assert secret not in published

"""The github-workflow executor against the sandbox's GitHub, over real sockets."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from pao_common.executor import CircuitBreakers
from pao_common.executor.testing import ExecutorHarness
from pao_common.messages import ActionFailed, ActionProgress, ActionSucceeded
from pao_devtools.ports import free_port
from pao_executors.github.auth import AppInstallationAuth
from prometheus_client import REGISTRY

from tests.executors_github.conftest import (
    DEPLOY_TOKEN,
    HarnessFactory,
    app_private_key,
    github_settings,
    register_workflow,
)
from tests.support.sandbox import GITHUB_TOKEN, SandboxServer

pytestmark = pytest.mark.integration

REPO_STEP: dict[str, Any] = {
    "owner": "acme",
    "repo": "repo-factory",
    "workflow": "create-repository.yml",
    "ref": "main",
    "inputs": {"name": "payments-api", "template": "python-service", "private": False},
}
CREATE_REPOSITORY = {
    "repo": "acme/repo-factory",
    "file": "create-repository.yml",
    "inputs": {
        "name": {"required": True},
        "template": {"required": True},
        "private": {"type": "boolean"},
        "correlation_id": {"required": True},
    },
    "run_name": "Create ${{ inputs.name }} [${{ inputs.correlation_id }}]",
    "artifact": {
        "repository_url": "https://github.com/acme/payments-api",
        "default_branch": "main",
    },
}


def sandbox_runs(sandbox: SandboxServer, workflow: str | None = None) -> list[dict[str, Any]]:
    runs = sandbox.state("github")["runs"]
    return [r for r in runs if workflow is None or r["path"].endswith(f"/{workflow}")]


async def test_dispatch_correlate_wait_and_read_the_artifact(
    github: ExecutorHarness, sandbox: SandboxServer
) -> None:
    register_workflow(sandbox, **CREATE_REPOSITORY)
    other = {**REPO_STEP, "inputs": {**REPO_STEP["inputs"], "name": "ledger-api"}}

    # Two requests dispatch the same workflow at once: each must find its own run.
    ours, theirs = await asyncio.gather(
        github.execute("github-workflow", REPO_STEP, request_id="req-gh-ours"),
        github.execute("github-workflow", other, request_id="req-gh-theirs"),
    )

    assert isinstance(ours, ActionSucceeded), ours
    assert isinstance(theirs, ActionSucceeded), theirs
    runs = {r["id"]: r for r in sandbox_runs(sandbox)}
    assert len(runs) == 2 and ours.outputs["run_id"] != theirs.outputs["run_id"]
    for result, name in ((ours, "payments-api"), (theirs, "ledger-api")):
        run = runs[result.outputs["run_id"]]
        assert run["inputs"]["name"] == name
        assert run["inputs"]["correlation_id"] == result.outputs["correlation_id"]
        assert result.outputs["correlation_id"] in run["display_title"]
        assert result.outputs["run_url"] == (
            f"{sandbox.github_url}/acme/repo-factory/actions/runs/{run['id']}"
        )
    assert ours.outputs["correlation_id"] == "pao-req-gh-ours-step-1"
    assert ours.outputs["conclusion"] == "success"
    # The artifact's JSON is the step's outputs.
    assert ours.outputs["repository_url"] == "https://github.com/acme/payments-api"
    assert ours.outputs["artifact"] == CREATE_REPOSITORY["artifact"]
    # Listed with the filters of the documented technique.
    listed = sandbox.requests("github", path="/repos/acme/repo-factory/actions/workflows/*/runs")
    assert any("event=workflow_dispatch" in r["query"] and "created=" in r["query"] for r in listed)
    progress = [m.message for m in github.messages if isinstance(m, ActionProgress)]
    assert any("dispatched create-repository.yml" in p for p in progress)
    assert any(p.endswith(": completed") for p in progress)


async def test_waits_while_the_run_is_queued_and_in_progress(
    github: ExecutorHarness, sandbox: SandboxServer
) -> None:
    sandbox.configure("github", queued_s=None, in_progress_s=None)
    task = asyncio.create_task(github.execute("github-workflow", REPO_STEP))
    [run] = await until(lambda: sandbox_runs(sandbox) or None)
    await until(lambda: progress_has(github, "queued"))
    await asyncio.to_thread(post, f"{sandbox.github_url}/sandbox/runs/{run['id']}/start")
    await until(lambda: progress_has(github, "in_progress"))
    await asyncio.to_thread(
        post,
        f"{sandbox.github_url}/sandbox/runs/{run['id']}/complete",
        {"conclusion": "success", "artifact": {"by_hand": True}},
    )

    result = await task

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs["run_id"] == run["id"] and result.outputs["by_hand"] is True


async def test_a_failed_run_fails_the_step_without_retry(
    github: ExecutorHarness, sandbox: SandboxServer
) -> None:
    register_workflow(sandbox, **{**CREATE_REPOSITORY, "conclusion": "failure"})

    failed = await github.execute("github-workflow", REPO_STEP)

    assert isinstance(failed, ActionFailed)
    assert failed.error_type == "WorkflowRunFailed" and failed.retryable is False
    [run] = sandbox_runs(sandbox)
    assert "concluded failure" in failed.error and str(run["id"]) in failed.error
    assert failed.outputs["conclusion"] == "failure"
    assert failed.outputs["run_url"].endswith(f"/actions/runs/{run['id']}")


async def test_a_retry_follows_the_run_of_the_earlier_attempt(
    github: ExecutorHarness, sandbox: SandboxServer
) -> None:
    """Attempt 1 dispatched and died; attempt 2 must not start a second run."""
    sandbox.configure("github", in_progress_s=None)
    cid = "pao-req-gh-retry-step-1"
    dispatch = f"{sandbox.github_url}/repos/acme/repo-factory/actions/workflows/deploy.yml"
    await asyncio.to_thread(
        post,
        f"{dispatch}/dispatches",
        {"ref": "main", "inputs": {"correlation_id": cid}},
        {"Authorization": f"Bearer {GITHUB_TOKEN}"},
    )
    [earlier] = sandbox_runs(sandbox)
    step = {**REPO_STEP, "workflow": "deploy.yml", "inputs": {}}

    task = asyncio.create_task(
        github.execute("github-workflow", step, request_id="req-gh-retry", attempt=2)
    )
    await until(lambda: progress_has(github, "following run"))
    await asyncio.to_thread(post, f"{sandbox.github_url}/sandbox/runs/{earlier['id']}/complete", {})
    result = await task

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs["run_id"] == earlier["id"]
    assert len(sandbox_runs(sandbox)) == 1


async def test_rollback_dispatches_the_rollback_workflow(
    github: ExecutorHarness, sandbox: SandboxServer
) -> None:
    rollback = {
        "owner": "acme",
        "repo": "repo-factory",
        "workflow": "archive-repository.yml",
        "inputs": {"name": "payments-api", "reason": "rollback of PAO request req-gh-rb"},
    }

    undone = await github.compensate(
        "github-workflow", rollback, outputs={"run_id": 1}, request_id="req-gh-rb"
    )

    assert isinstance(undone, ActionSucceeded), undone
    assert undone.compensation is True
    [run] = sandbox_runs(sandbox, "archive-repository.yml")
    assert run["inputs"]["correlation_id"] == "pao-req-gh-rb-step-1-rollback"
    assert run["inputs"]["reason"] == "rollback of PAO request req-gh-rb"


async def test_undeclared_correlation_input_is_explained(
    github: ExecutorHarness, sandbox: SandboxServer
) -> None:
    register_workflow(
        sandbox,
        repo="acme/repo-factory",
        file="strict.yml",
        inputs={"name": {"required": True}},
    )

    failed = await github.execute(
        "github-workflow", {**REPO_STEP, "workflow": "strict.yml", "inputs": {"name": "x"}}
    )

    assert isinstance(failed, ActionFailed) and not failed.retryable
    assert "422" in failed.error and "run-name" in failed.error


async def test_required_artifact_that_is_missing_fails(
    github: ExecutorHarness, sandbox: SandboxServer
) -> None:
    failed = await github.execute(
        "github-workflow",
        {**REPO_STEP, "workflow": "x.yml", "artifact": "report", "artifact_required": True},
    )
    optional = await github.execute(
        "github-workflow", {**REPO_STEP, "workflow": "x.yml", "artifact": "report"}
    )

    assert isinstance(failed, ActionFailed) and failed.error_type == "ArtifactError"
    assert isinstance(optional, ActionSucceeded) and optional.outputs["artifact"] is None


async def test_app_installation_token_is_exchanged_once_and_renewed_when_rejected(
    sandbox: SandboxServer, harnesses: HarnessFactory
) -> None:
    key = await asyncio.to_thread(app_private_key, sandbox)
    settings = github_settings(sandbox.github_url, token=None, app_id="1001")
    harness = harnesses(settings, {"PAO_SECRET_GITHUB_APP_PRIVATE_KEY": key})

    first = await harness.execute("github-workflow", REPO_STEP)
    second = await harness.execute("github-workflow", REPO_STEP)

    assert isinstance(first, ActionSucceeded) and isinstance(second, ActionSucceeded)
    exchanges = sandbox.requests("github", path="/app/installations/*/access_tokens")
    assert [e["path"] for e in exchanges] == ["/app/installations/4242/access_tokens"]
    assert exchanges[0]["headers"]["authorization"].startswith("Bearer ey")  # the App's JWT
    dispatches = sandbox.requests("github", path="*/dispatches")
    assert all(d["headers"]["authorization"].startswith("Bearer ghs_") for d in dispatches)
    assert {r["actor"]["login"] for r in sandbox_runs(sandbox)} == {"pao-sandbox[bot]"}

    # GitHub forgets the token (revoked, expired early): 401, a new token, and on.
    sandbox.reset()
    third = await harness.execute("github-workflow", REPO_STEP)

    assert isinstance(third, ActionSucceeded), third
    assert len(sandbox.requests("github", path="/app/installations/*/access_tokens")) == 1
    auth = harnesses.runs[-1].auth
    assert isinstance(auth, AppInstallationAuth) and auth.exchanges == 2


async def test_a_bad_app_key_is_a_configuration_error(
    sandbox: SandboxServer, harnesses: HarnessFactory
) -> None:
    settings = github_settings(sandbox.github_url, token=None, app_id="1001")
    harness = harnesses(settings, {"PAO_SECRET_GITHUB_APP_PRIVATE_KEY": "not a pem key"})

    failed = await harness.execute("github-workflow", REPO_STEP)

    assert isinstance(failed, ActionFailed) and failed.error_type == "GithubNotConfigured"
    assert "not a usable RSA PEM key" in failed.error and "not a pem key" not in failed.error


async def test_unreachable_github_opens_the_circuit_fails_fast_and_recovers(
    harnesses: HarnessFactory,
) -> None:
    port = free_port()
    harness = harnesses(github_settings(f"http://127.0.0.1:{port}/github"))
    now = [1000.0]
    harness.runner.breakers = CircuitBreakers(
        "github-workflow", failure_threshold=3, reset_timeout_s=30, clock=lambda: now[0]
    )
    target = f"127.0.0.1:{port}"

    down = [await harness.execute("github-workflow", REPO_STEP) for _ in range(3)]
    assert all(isinstance(r, ActionFailed) and r.retryable for r in down)
    assert all("unreachable" in r.error for r in down if isinstance(r, ActionFailed))

    server = SandboxServer(port=port).start()
    try:
        fast = await harness.execute("github-workflow", REPO_STEP)
        assert isinstance(fast, ActionFailed) and fast.error_type == "CircuitOpen"
        assert fast.retryable and server.requests("github") == []
        assert circuit_state(target) == 2

        now[0] += 31
        recovered = await harness.execute("github-workflow", REPO_STEP)
        assert isinstance(recovered, ActionSucceeded), recovered
        assert circuit_state(target) == 0
    finally:
        server.stop()


async def test_no_secret_in_any_log_line_event_or_result(
    sandbox: SandboxServer, harnesses: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await asyncio.to_thread(app_private_key, sandbox)
    app = harnesses(
        github_settings(sandbox.github_url, token=None, app_id="1001"),
        {"PAO_SECRET_GITHUB_APP_PRIVATE_KEY": key},
    )
    pat = harnesses(github_settings(sandbox.github_url))
    step = {**REPO_STEP, "inputs": {"deploy_token": "${secret:deploy-token}"}}

    ok = await app.execute("github-workflow", step)
    sandbox.fault("github", method="GET", path="*/runs/*/artifacts", status=500, times=20)
    failed = await pat.execute("github-workflow", step)

    assert isinstance(ok, ActionSucceeded) and isinstance(failed, ActionFailed)
    # The sandbox's default artifact echoes the inputs: the secret came back, masked.
    assert ok.outputs["inputs"]["deploy_token"] == "***"
    installation_tokens = {
        r["headers"]["authorization"].split()[-1]
        for r in sandbox.requests("github", path="*/dispatches")
        if "ghs_" in r["headers"]["authorization"]
    }
    jwts = {
        r["headers"]["authorization"].split()[-1]
        for r in sandbox.requests("github", path="/app/installations/*")
    }
    assert installation_tokens and jwts
    secrets = {DEPLOY_TOKEN, GITHUB_TOKEN, *installation_tokens, *jwts}
    secrets |= {line for line in key.splitlines() if len(line) >= 16}
    published = json.dumps([e.model_dump(mode="json") for e in app.events + pat.events])
    logged = "\n".join([r.getMessage() for r in caplog.records] + [caplog.text])
    assert "pao.executor" in logged
    for secret in secrets:
        assert secret not in published
        assert secret not in logged


# --- helpers ----------------------------------------------------------------------------


def post(url: str, body: Any = None, headers: dict[str, str] | None = None) -> None:
    httpx.post(url, json=body if body is not None else {}, headers=headers).raise_for_status()


def progress_has(harness: ExecutorHarness, text: str) -> bool:
    return any(text in m.message for m in harness.messages if isinstance(m, ActionProgress))


async def until(check: Any) -> Any:
    """Poll ``check`` (sync, maybe blocking) until it returns something truthy."""
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.02)


def circuit_state(target: str) -> float | None:
    return REGISTRY.get_sample_value(
        "pao_executor_circuit_state", {"executor": "github-workflow", "target": target}
    )

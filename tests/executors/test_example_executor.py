"""The example executor of docs/executors.md, tested the way the docs tell teams to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pao_common.executor import Redactor, SecretResolver
from pao_common.executor.testing import ExecutorHarness
from pao_common.messages import ActionFailed, ActionSucceeded
from pao_executors.example import executor


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ExecutorHarness:
    monkeypatch.setenv("PAO_EXAMPLE_WORKSPACES_DIR", str(tmp_path))
    secrets = SecretResolver(
        environ={"PAO_SECRET_WORKSPACE_API": "wk-token-123456"}, redactor=Redactor()
    )
    return ExecutorHarness(executor, secrets=secrets)


INPUTS = {"name": "payments-dev", "owner": "payments", "api_token": "${secret:workspace-api}"}


async def test_creates_the_workspace_and_reports_progress(
    harness: ExecutorHarness, tmp_path: Path
) -> None:
    result = await harness.execute("example.workspace", INPUTS, request_id="req-1")
    assert isinstance(result, ActionSucceeded)
    assert result.outputs == {
        "path": str(tmp_path / "payments-dev"),
        "name": "payments-dev",
        "created": True,
    }
    record = json.loads((tmp_path / "payments-dev" / "workspace.json").read_text())
    assert record["owner"] == "payments" and record["request_id"] == "req-1"
    assert "wk-token-123456" not in json.dumps(record), "only a fingerprint is stored"
    assert [m.ce_type for m in harness.messages] == [
        "pao.action.started",
        "pao.action.progress",
        "pao.action.progress",
        "pao.action.succeeded",
    ]


async def test_a_retry_of_the_same_request_succeeds_without_creating_twice(
    harness: ExecutorHarness,
) -> None:
    await harness.execute("example.workspace", INPUTS, request_id="req-1", attempt=1)
    again = await harness.execute("example.workspace", INPUTS, request_id="req-1", attempt=2)
    assert isinstance(again, ActionSucceeded) and again.outputs["created"] is False


async def test_someone_elses_workspace_is_a_final_failure(harness: ExecutorHarness) -> None:
    await harness.execute("example.workspace", INPUTS, request_id="req-1")
    other = await harness.execute("example.workspace", INPUTS, request_id="req-2")
    assert isinstance(other, ActionFailed) and not other.retryable
    assert "already belongs to payments" in other.error


async def test_bad_name_and_missing_secret_fail_before_anything_happens(
    harness: ExecutorHarness, tmp_path: Path
) -> None:
    bad = await harness.execute("example.workspace", {**INPUTS, "name": "Payments!"})
    assert isinstance(bad, ActionFailed) and bad.details["fields"][0]["field"] == "name"
    missing = await harness.execute("example.workspace", {**INPUTS, "api_token": "${secret:nope}"})
    assert isinstance(missing, ActionFailed) and missing.error_type == "SecretNotFound"
    assert not (tmp_path / "payments-dev").exists()


async def test_rollback_removes_only_what_the_request_created(
    harness: ExecutorHarness, tmp_path: Path
) -> None:
    await harness.execute("example.workspace", INPUTS, request_id="req-1")
    foreign = await harness.compensate("example.workspace", INPUTS, request_id="req-2")
    assert isinstance(foreign, ActionSucceeded) and foreign.outputs == {"removed": False}
    assert (tmp_path / "payments-dev").exists()
    undone = await harness.compensate("example.workspace", INPUTS, request_id="req-1")
    assert isinstance(undone, ActionSucceeded) and undone.outputs == {"removed": True}
    assert not (tmp_path / "payments-dev").exists()

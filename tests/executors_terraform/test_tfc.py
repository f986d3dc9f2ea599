"""The terraform executor against the sandbox's Terraform Cloud, over real sockets."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from pao_common.executor import CircuitBreakers
from pao_common.executor.testing import ExecutorHarness
from pao_common.messages import ActionFailed, ActionProgress, ActionSucceeded
from pao_devtools.ports import free_port
from prometheus_client import REGISTRY

from tests.executors_terraform.conftest import DB_PASSWORD, HarnessFactory, tfc_settings
from tests.support.sandbox import TFC_TOKEN, SandboxServer

pytestmark = pytest.mark.integration

DB_VARIABLES: dict[str, object] = {
    "name": "orders",
    "allocated_storage": 50,
    "multi_az": False,
    "extensions": ["pgcrypto"],
    "tags": {"owner": "orders-team@example.com"},
    "password": "${secret:db-password}",
}
DB_INPUTS = {
    "workspace": "pg-dev-orders",
    "message": "PAO: PostgreSQL orders",
    "variables": DB_VARIABLES,
}


def arm_apply_error(sandbox: SandboxServer, workspace: str | None) -> None:
    """The next apply (of ``workspace``; None: any) ends errored."""
    url = f"{sandbox.tfc_url}/sandbox/faults/apply-error"
    httpx.post(url, json={"workspace": workspace, "times": 1}).raise_for_status()


def workspace_runs(sandbox: SandboxServer, name: str) -> list[dict[str, object]]:
    state = sandbox.state("tfc")
    [ws] = [w for w in state["workspaces"] if w["attributes"]["name"] == name]
    return [r for r in state["runs"] if r["workspace"] == ws["id"]]


def workspace_vars(sandbox: SandboxServer, name: str) -> dict[str, dict[str, object]]:
    state = sandbox.state("tfc")
    [ws] = [w for w in state["workspaces"] if w["attributes"]["name"] == name]
    return {
        v["attributes"]["key"]: v["attributes"] for v in state["vars"] if v["workspace"] == ws["id"]
    }


async def test_apply_sets_variables_confirms_the_run_and_reads_outputs(
    tfc: ExecutorHarness, sandbox: SandboxServer
) -> None:
    result = await tfc.execute("terraform", DB_INPUTS, request_id="req-tfc-happy")

    assert isinstance(result, ActionSucceeded), result
    outputs = result.outputs
    assert outputs["name"] == "orders" and outputs["workspace"] == "pg-dev-orders"
    assert outputs["status"] == "applied" and outputs["mode"] == "tfc"
    assert outputs["run_id"].startswith("run-")
    assert outputs["run_url"] == (
        f"{sandbox.tfc_url}/app/pao/workspaces/pg-dev-orders/runs/{outputs['run_id']}"
    )
    # The password came from secret(): stored sensitive, never returned.
    assert "password" not in outputs and "password" not in outputs["outputs"]
    assert outputs["sensitive_outputs"] == ["password"]

    variables = workspace_vars(sandbox, "pg-dev-orders")
    assert variables["password"]["sensitive"] is True
    assert variables["password"]["value"] == DB_PASSWORD
    assert variables["name"] == {**variables["name"], "value": "orders", "hcl": False}
    assert variables["extensions"]["hcl"] is True
    assert json.loads(str(variables["tags"]["value"])) == {"owner": "orders-team@example.com"}
    assert variables["multi_az"]["value"] == "false"

    [run] = workspace_runs(sandbox, "pg-dev-orders")
    assert run["status"] == "applied" and run["is-destroy"] is False
    assert "[pao req-tfc-happy/step-1/apply]" in str(run["message"])
    # The workspace does not auto-apply: the executor confirmed the plan.
    confirms = sandbox.requests("tfc", path=f"/api/v2/runs/{run['id']}/actions/apply")
    assert [c["status"] for c in confirms] == [202]
    progress = [m.message for m in tfc.messages if isinstance(m, ActionProgress)]
    assert any("apply confirmed" in p for p in progress)
    assert any(p.endswith(": applied") for p in progress)


async def test_second_apply_updates_variables_in_place(
    tfc: ExecutorHarness, sandbox: SandboxServer
) -> None:
    first = await tfc.execute("terraform", DB_INPUTS)
    changed = {**DB_INPUTS, "variables": {**DB_VARIABLES, "allocated_storage": 100}}
    second = await tfc.execute("terraform", changed)

    assert isinstance(first, ActionSucceeded) and isinstance(second, ActionSucceeded)
    variables = workspace_vars(sandbox, "pg-dev-orders")
    assert len(variables) == len(DB_VARIABLES)  # updated, not duplicated
    assert variables["allocated_storage"]["value"] == "100"
    assert second.outputs["allocated_storage"] == "100"
    patches = sandbox.requests("tfc", path="/api/v2/workspaces/*/vars/*", method="PATCH")
    # Only what changed (and the write-only sensitive value) is written again.
    assert sorted(json.loads(p["body"])["data"]["attributes"]["key"] for p in patches) == [
        "allocated_storage",
        "password",
    ]


async def test_auto_apply_workspace_is_not_confirmed(
    tfc: ExecutorHarness, sandbox: SandboxServer
) -> None:
    sandbox.configure(
        "tfc",
        workspaces=[
            {
                "organization": "pao",
                "name": "auto",
                "auto_apply": True,
                "outputs": {"endpoint": "auto.db.internal"},
            }
        ],
    )
    result = await tfc.execute("terraform", {"workspace": "auto"})

    assert isinstance(result, ActionSucceeded), result
    assert result.outputs["endpoint"] == "auto.db.internal"
    assert sandbox.requests("tfc", path="/api/v2/runs/*/actions/apply") == []


async def test_apply_that_errors_fails_and_compensation_issues_a_destroy_run(
    tfc: ExecutorHarness, sandbox: SandboxServer
) -> None:
    arm_apply_error(sandbox, "pg-dev-orders")

    failed = await tfc.execute("terraform", DB_INPUTS, request_id="req-tfc-error")

    assert isinstance(failed, ActionFailed)
    assert failed.retryable is False and failed.error_type == "TerraformRunFailed"
    assert "ended errored" in failed.error
    assert "sandbox injected apply failure" in failed.error  # the apply log's last lines
    assert failed.outputs["run_id"].startswith("run-") and failed.outputs["status"] == "errored"

    undone = await tfc.compensate(
        "terraform",
        {"workspace": "pg-dev-orders", "destroy": True},
        outputs=failed.outputs,
        request_id="req-tfc-error",
    )

    assert isinstance(undone, ActionSucceeded), undone
    assert undone.compensation and undone.outputs["destroy"] is True
    apply_run, destroy_run = workspace_runs(sandbox, "pg-dev-orders")
    assert (apply_run["status"], apply_run["is-destroy"]) == ("errored", False)
    assert (destroy_run["status"], destroy_run["is-destroy"]) == ("applied", True)
    assert "[pao req-tfc-error/step-1/destroy]" in str(destroy_run["message"])
    assert undone.outputs["run_id"] == destroy_run["id"] and undone.outputs["outputs"] == {}


async def test_destroy_on_error_cleans_up_before_failing(
    tfc: ExecutorHarness, sandbox: SandboxServer
) -> None:
    arm_apply_error(sandbox, None)

    failed = await tfc.execute("terraform", {**DB_INPUTS, "destroy_on_error": True})

    assert isinstance(failed, ActionFailed) and not failed.retryable
    apply_run, destroy_run = workspace_runs(sandbox, "pg-dev-orders")
    assert apply_run["status"] == "errored"
    assert destroy_run["is-destroy"] is True and destroy_run["status"] == "applied"
    assert failed.outputs["cleanup"] == {"run_id": destroy_run["id"], "status": "applied"}
    assert f"destroy run {destroy_run['id']} applied" in failed.error


async def test_compensating_a_successful_apply_empties_the_state(
    tfc: ExecutorHarness, sandbox: SandboxServer
) -> None:
    applied = await tfc.execute("terraform", DB_INPUTS, request_id="req-tfc-undo")
    assert isinstance(applied, ActionSucceeded)

    undone = await tfc.compensate(
        "terraform",
        {"workspace": "pg-dev-orders", "destroy": True},
        outputs=applied.outputs,
        request_id="req-tfc-undo",
    )

    assert isinstance(undone, ActionSucceeded), undone
    state = sandbox.state("tfc")
    [ws] = state["workspaces"]
    assert ws["attributes"]["resource-count"] == 0
    current = next(s for s in state["state_versions"] if s["id"] == ws["current_state_version"])
    assert current["outputs"] == [] and current["run"] == undone.outputs["run_id"]


async def test_unknown_workspace_and_bad_token_are_not_retryable(
    sandbox: SandboxServer, harnesses: HarnessFactory
) -> None:
    sandbox.configure("tfc", auto_workspaces=False)
    missing = await harnesses(tfc_settings(sandbox.tfc_url)).execute(
        "terraform", {"workspace": "nope"}
    )
    bad_token = await harnesses(tfc_settings(sandbox.tfc_url, tfc_token="wrong")).execute(
        "terraform", {"workspace": "nope"}
    )
    no_org = await harnesses(tfc_settings(sandbox.tfc_url, tfc_organization=None)).execute(
        "terraform", {"workspace": "nope"}
    )

    assert isinstance(missing, ActionFailed) and not missing.retryable
    assert "workspace pao/nope does not exist" in missing.error
    assert isinstance(bad_token, ActionFailed) and not bad_token.retryable
    assert "401" in bad_token.error and "wrong" not in bad_token.error
    assert isinstance(no_org, ActionFailed) and "PAO_TFC_ORGANIZATION" in no_org.error
    assert no_org.error_type == "TerraformNotConfigured"


async def test_server_errors_are_retryable(tfc: ExecutorHarness, sandbox: SandboxServer) -> None:
    sandbox.fault("tfc", method="POST", path="/api/v2/runs", status=503)

    failed = await tfc.execute("terraform", DB_INPUTS)

    assert isinstance(failed, ActionFailed) and failed.retryable
    assert "503" in failed.error


async def test_unreachable_tfc_opens_the_circuit_fails_fast_and_recovers(
    harnesses: HarnessFactory,
) -> None:
    port = free_port()
    settings = tfc_settings(f"http://127.0.0.1:{port}/tfc", terraform_circuit_failures=2)
    harness = harnesses(settings)
    now = [1000.0]
    harness.runner.breakers = CircuitBreakers(
        "terraform", failure_threshold=2, reset_timeout_s=30, clock=lambda: now[0]
    )
    target = f"127.0.0.1:{port}"

    down = [await harness.execute("terraform", DB_INPUTS) for _ in range(2)]
    assert all(isinstance(r, ActionFailed) and r.retryable for r in down)
    assert all("unreachable" in r.error for r in down if isinstance(r, ActionFailed))

    # The target is back, but the circuit is open: the next call fails without trying.
    server = SandboxServer(port=port).start()
    try:
        fast = await harness.execute("terraform", DB_INPUTS)
        assert isinstance(fast, ActionFailed) and fast.error_type == "CircuitOpen"
        assert fast.retryable and target in fast.error
        assert server.requests("tfc") == []
        assert circuit_state(target) == 2

        now[0] += 31  # past reset_timeout_s: one probe goes through and closes the circuit
        recovered = await harness.execute("terraform", DB_INPUTS)
        assert isinstance(recovered, ActionSucceeded), recovered
        assert circuit_state(target) == 0
        assert server.requests("tfc", path="/api/v2/runs", method="POST") != []
    finally:
        server.stop()


def circuit_state(target: str) -> float | None:
    return REGISTRY.get_sample_value(
        "pao_executor_circuit_state", {"executor": "terraform", "target": target}
    )


async def test_no_secret_in_any_log_line_event_or_result(
    sandbox: SandboxServer, harnesses: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = harnesses(tfc_settings(sandbox.tfc_url))
    ok = await harness.execute("terraform", DB_INPUTS)
    sandbox.fault("tfc", method="GET", path="/api/v2/workspaces/*/vars", status=500)
    failed = await harness.execute(
        "terraform",
        {**DB_INPUTS, "message": "password is ${secret:db-password}"},
    )

    assert isinstance(ok, ActionSucceeded) and isinstance(failed, ActionFailed)
    published = json.dumps([e.model_dump(mode="json") for e in harness.events])
    logged = "\n".join([r.getMessage() for r in caplog.records] + [caplog.text])
    assert "pao.executor" in logged  # the executor did log
    for secret in (DB_PASSWORD, TFC_TOKEN):
        assert secret not in published
        assert secret not in logged
    # The secret did reach Terraform Cloud, write-only.
    assert workspace_vars(sandbox, "pg-dev-orders")["password"]["value"] == DB_PASSWORD

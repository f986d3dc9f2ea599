"""The terraform executor's CLI mode with the real ``terraform``/``tofu`` binary.

The modules use only Terraform's built-in ``terraform_data`` resource and ``local-exec``
provisioner, so ``init`` needs no provider download (there is no network here). Neither
Debian nor PyPI ships Terraform or OpenTofu; the tests run where a binary is on PATH.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pao_common.executor.testing import ExecutorHarness
from pao_common.messages import ActionFailed, ActionProgress, ActionSucceeded
from pao_executors.terraform import TerraformSettings

from tests.executors_terraform.conftest import DB_PASSWORD, HarnessFactory

BINARY = TerraformSettings(terraform_binary=None).binary()
pytestmark = pytest.mark.skipif(BINARY is None, reason="no terraform or tofu on PATH")

DATABASE_MODULE = """
variable "name" { type = string }
variable "size_gb" { type = number }
variable "password" {
  type      = string
  sensitive = true
}
resource "terraform_data" "database" {
  input = { name = var.name, size_gb = var.size_gb }
}
output "endpoint" { value = "${terraform_data.database.output.name}.db.internal" }
output "size_gb" { value = terraform_data.database.output.size_gb }
output "password" {
  value     = var.password
  sensitive = true
}
"""

# The first resource is created, then the second one's provisioner fails: a partial apply.
FAILING_MODULE = """
variable "name" { type = string }
resource "terraform_data" "bucket" { input = var.name }
resource "terraform_data" "policy" {
  depends_on = [terraform_data.bucket]
  provisioner "local-exec" { command = "echo policy rejected >&2; exit 3" }
}
"""


@pytest.fixture
def cli(tmp_path: Path, harnesses: HarnessFactory) -> ExecutorHarness:
    modules = tmp_path / "modules"
    for name, text in (("database", DATABASE_MODULE), ("failing", FAILING_MODULE)):
        (modules / name).mkdir(parents=True)
        (modules / name / "main.tf").write_text(text)
    settings = TerraformSettings(
        terraform_mode="cli",
        terraform_modules_dir=modules,
        terraform_work_dir=tmp_path / "work",
    )
    return harnesses(settings)


def state_resources(work: Path) -> list[str]:
    state = json.loads((work / "terraform.tfstate").read_text())
    return [f"{r['type']}.{r['name']}" for r in state["resources"]]


DB_STEP = {
    "workspace": "pg-dev-orders",
    "module": "database",
    "variables": {"name": "orders", "size_gb": 50, "password": "${secret:db-password}"},
}


async def test_apply_outputs_and_rollback_destroys(cli: ExecutorHarness) -> None:
    applied = await cli.execute("terraform", DB_STEP, request_id="req-cli-1")

    assert isinstance(applied, ActionSucceeded), applied
    outputs = applied.outputs
    assert outputs["endpoint"] == "orders.db.internal" and outputs["size_gb"] == 50
    assert outputs["mode"] == "cli" and outputs["status"] == "applied"
    assert outputs["sensitive_outputs"] == ["password"] and "password" not in outputs
    assert DB_PASSWORD not in json.dumps(applied.model_dump(mode="json"))
    work = Path(outputs["working_directory"])
    assert work.parts[-2:] == ("req-cli-1", "pg-dev-orders")
    assert state_resources(work) == ["terraform_data.database"]
    assert oct((work / "pao.auto.tfvars.json").stat().st_mode & 0o777) == "0o600"
    progress = [m.message for m in cli.messages if isinstance(m, ActionProgress)]
    assert any("terraform init" in p for p in progress)

    # The rollback names only the workspace: the apply's directory, state and vars are reused.
    undone = await cli.compensate(
        "terraform",
        {"workspace": "pg-dev-orders", "module": "database", "destroy": True},
        outputs=outputs,
        request_id="req-cli-1",
    )

    assert isinstance(undone, ActionSucceeded), undone
    assert undone.outputs["status"] == "destroyed" and undone.outputs["outputs"] == {}
    assert state_resources(work) == []


async def test_apply_that_errors_fails_and_compensation_destroys_what_it_created(
    cli: ExecutorHarness,
) -> None:
    step = {"workspace": "bucket", "module": "failing", "variables": {"name": "logs"}}
    failed = await cli.execute("terraform", step, request_id="req-cli-2")

    assert isinstance(failed, ActionFailed)
    assert failed.error_type == "TerraformCliError" and not failed.retryable
    assert "terraform apply" in failed.error and "policy rejected" in failed.error
    work = Path(failed.outputs["working_directory"])
    assert "terraform_data.bucket" in state_resources(work)  # partially applied

    undone = await cli.compensate(
        "terraform", {"workspace": "bucket", "module": "failing"}, request_id="req-cli-2"
    )

    assert isinstance(undone, ActionSucceeded), undone
    assert state_resources(work) == []


async def test_destroy_on_error_in_cli_mode(cli: ExecutorHarness) -> None:
    step = {
        "workspace": "bucket",
        "module": "failing",
        "variables": {"name": "logs"},
        "destroy_on_error": True,
    }
    failed = await cli.execute("terraform", step, request_id="req-cli-3")

    assert isinstance(failed, ActionFailed) and "cleanup destroy destroyed" in failed.error
    assert failed.outputs["cleanup"] == "destroyed"
    assert state_resources(Path(failed.outputs["working_directory"])) == []


async def test_module_must_exist_below_the_modules_dir(cli: ExecutorHarness) -> None:
    outside = await cli.execute("terraform", {"workspace": "x", "module": "../../etc"})
    missing = await cli.execute("terraform", {"workspace": "x"})

    assert isinstance(outside, ActionFailed) and "outside" in outside.error
    assert isinstance(missing, ActionFailed) and "needs the step's 'module'" in missing.error
    assert not outside.retryable and not missing.retryable

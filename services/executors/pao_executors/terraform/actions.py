"""The ``terraform`` action type: plan and apply in a workspace; rollback = a destroy run.

Two backends implement ``TerraformBackend``: Terraform Cloud / Enterprise (``tfc``) and
the local command line (``cli``); the settings pick one for the whole executor.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pao_catalog_model.action_inputs.terraform import TerraformInputs
from pao_common.executor import ActionContext, Executor

from pao_executors.terraform.cli import CliBackend
from pao_executors.terraform.settings import TerraformSettings
from pao_executors.terraform.tfc import TfcBackend

log = logging.getLogger("pao.executor.terraform")


class TerraformBackend(Protocol):
    """Where a step's Terraform runs."""

    mode: str

    async def run(
        self, inputs: TerraformInputs, ctx: ActionContext, *, destroy: bool
    ) -> dict[str, Any]:
        """Apply (or destroy) the step's workspace; its outputs (see ``outputs.py``).

        Raises an ``ActionError``: retryable when the system was unreachable or busy,
        not retryable when Terraform itself failed.
        """
        ...

    async def aclose(self) -> None:
        """Release connections (at executor shutdown)."""
        ...


def create_backend(settings: TerraformSettings) -> TerraformBackend:
    return TfcBackend(settings) if settings.mode == "tfc" else CliBackend(settings)


def describe(backend: TerraformBackend, settings: TerraformSettings) -> str:
    """Where this executor's runs go, for the startup log line."""
    if backend.mode == "tfc":
        org = settings.tfc_organization or "(organization per step)"
        return f"Terraform Cloud at {settings.tfc_url}, organization {org}"
    binary = settings.binary() or "no terraform/tofu on PATH"
    return f"local CLI {binary}, modules {settings.terraform_modules_dir.resolve()}"


def build_executor(backend: TerraformBackend, settings: TerraformSettings) -> Executor:
    """The ``terraform`` executor over ``backend``."""
    executor = Executor(
        "terraform",
        description=f"Terraform plan/apply and destroy ({backend.mode})",
        circuit_failure_threshold=settings.terraform_circuit_failures,
        circuit_reset_timeout_s=settings.terraform_circuit_reset_s,
    )

    @executor.action("terraform", inputs=TerraformInputs)
    async def apply(inputs: TerraformInputs, ctx: ActionContext) -> dict[str, Any]:
        """Set the variables, plan and apply (``destroy: true``: destroy); outputs the
        workspace's Terraform outputs, ``run_id`` and ``run_url``."""
        return await backend.run(inputs, ctx, destroy=inputs.destroy)

    @executor.compensate("terraform")
    async def destroy(inputs: TerraformInputs, ctx: ActionContext) -> dict[str, Any]:
        """Undo the step: a destroy run in the same workspace."""
        return await backend.run(inputs, ctx, destroy=True)

    async def announce(_: Any) -> None:
        log.info("terraform executor: %s", describe(backend, settings))

    async def close(_: Any) -> None:
        await backend.aclose()

    executor.on_start(announce)
    executor.on_stop(close)
    return executor

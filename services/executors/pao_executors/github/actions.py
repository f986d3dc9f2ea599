"""The ``github-workflow`` action type: dispatch, correlate, wait, outputs from an artifact.

Its compensation dispatches the workflow the step's ``rollback: with:`` names (e.g. an
``archive-repository.yml``) the same way, with its own correlation id, and waits for it.
"""

from __future__ import annotations

import logging
from typing import Any

from pao_catalog_model.action_inputs.github import WorkflowInputs
from pao_common.executor import ActionContext, Executor

from pao_executors.github.settings import GithubSettings
from pao_executors.github.workflow import WorkflowRuns

log = logging.getLogger("pao.executor.github-workflow")


def build_executor(runs: WorkflowRuns, settings: GithubSettings) -> Executor:
    """The ``github-workflow`` executor over ``runs``."""
    executor = Executor(
        "github-workflow",
        description="GitHub Actions workflow_dispatch runs, waited for",
        circuit_failure_threshold=settings.circuit_failures,
        circuit_reset_timeout_s=settings.circuit_reset_s,
    )

    @executor.action("github-workflow", inputs=WorkflowInputs)
    async def dispatch(inputs: WorkflowInputs, ctx: ActionContext) -> dict[str, Any]:
        """Dispatch ``workflow`` with ``inputs`` and wait for its run; outputs the run's
        ``run_id``, ``run_url``, ``conclusion`` and the JSON of its ``outputs`` artifact."""
        return await runs.run(inputs, ctx, kind="run")

    @executor.compensate("github-workflow")
    async def rollback(inputs: WorkflowInputs, ctx: ActionContext) -> dict[str, Any]:
        """Dispatch the rollback workflow named in the step's ``rollback: with:``."""
        return await runs.run(inputs, ctx, kind="rollback")

    async def announce(_: Any) -> None:
        log.info(
            "github-workflow executor: %s, authenticated by %s",
            settings.api_url,
            settings.auth_mode,
        )

    async def close(_: Any) -> None:
        await runs.aclose()

    executor.on_start(announce)
    executor.on_stop(close)
    return executor

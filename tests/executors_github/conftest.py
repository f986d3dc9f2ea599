"""Fixtures of the github-workflow executor tests: the sandbox's GitHub, a harness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pao_common.executor.testing import ExecutorHarness
from pao_executors.github import GithubSettings, WorkflowRuns, build_executor

from tests.support.sandbox import GITHUB_TOKEN, SandboxServer, sandbox, sandbox_server

__all__ = ["sandbox", "sandbox_server"]

DEPLOY_TOKEN = "deploy-tok-51c0ffee-not-for-logs"


def github_settings(url: str, **overrides: Any) -> GithubSettings:
    values: dict[str, Any] = {
        "api_url": url,
        "token": GITHUB_TOKEN,
        "poll_initial_s": 0.01,
        "poll_max_s": 0.05,
        "find_run_timeout_s": 5,
    }
    values.update(overrides)
    return GithubSettings(**values)


class HarnessFactory:
    """Builds harnesses over given settings and closes their HTTP clients afterwards."""

    def __init__(self) -> None:
        self.runs: list[WorkflowRuns] = []

    def __call__(
        self, settings: GithubSettings, environ: dict[str, str] | None = None
    ) -> ExecutorHarness:
        runs = WorkflowRuns(settings)
        self.runs.append(runs)
        env = {"PAO_SECRET_DEPLOY_TOKEN": DEPLOY_TOKEN, **(environ or {})}
        return ExecutorHarness(build_executor(runs, settings), environ=env)

    async def close(self) -> None:
        for runs in self.runs:
            await runs.aclose()


@pytest.fixture
async def harnesses() -> AsyncIterator[HarnessFactory]:
    factory = HarnessFactory()
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
def github(sandbox: SandboxServer, harnesses: HarnessFactory) -> ExecutorHarness:
    """The github-workflow executor (token auth) against the sandbox."""
    return harnesses(github_settings(sandbox.github_url))


def register_workflow(sandbox: SandboxServer, **workflow: Any) -> None:
    """A workflow the sandbox knows (declared inputs, run-name, conclusion, artifact)."""
    httpx.post(f"{sandbox.github_url}/sandbox/workflows", json=workflow).raise_for_status()


def app_private_key(sandbox: SandboxServer) -> str:
    response = httpx.get(f"{sandbox.github_url}/sandbox/app")
    response.raise_for_status()
    key: str = response.json()["private_key_pem"]
    return key

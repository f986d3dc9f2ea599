"""Fixtures of the terraform executor tests: the sandbox's Terraform Cloud, a harness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pao_common.executor.testing import ExecutorHarness
from pao_executors.terraform import TerraformSettings, build_executor, create_backend
from pao_executors.terraform.actions import TerraformBackend

from tests.support.sandbox import TFC_TOKEN, SandboxServer, sandbox, sandbox_server

__all__ = ["sandbox", "sandbox_server"]

DB_PASSWORD = "pg-pass-7f3c9a1e-not-for-logs"
SECRETS = {"PAO_SECRET_DB_PASSWORD": DB_PASSWORD}

Harnesses = Callable[..., AsyncIterator[ExecutorHarness]]


def tfc_settings(url: str, **overrides: object) -> TerraformSettings:
    values: dict[str, object] = {
        "tfc_url": url,
        "tfc_token": TFC_TOKEN,
        "tfc_organization": "pao",
        "terraform_mode": "tfc",
        "terraform_poll_initial_s": 0.01,
        "terraform_poll_max_s": 0.05,
    }
    values.update(overrides)
    return TerraformSettings(**values)  # type: ignore[arg-type]


class HarnessFactory:
    """Builds harnesses over given settings and closes their HTTP clients afterwards."""

    def __init__(self) -> None:
        self._backends: list[TerraformBackend] = []

    def __call__(self, settings: TerraformSettings) -> ExecutorHarness:
        backend = create_backend(settings)
        self._backends.append(backend)
        return ExecutorHarness(build_executor(backend, settings), environ=SECRETS)

    async def close(self) -> None:
        for backend in self._backends:
            await backend.aclose()


@pytest.fixture
async def harnesses() -> AsyncIterator[HarnessFactory]:
    factory = HarnessFactory()
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
async def tfc(sandbox: SandboxServer, harnesses: HarnessFactory) -> ExecutorHarness:
    """The terraform executor (TFC mode) against the sandbox."""
    return harnesses(tfc_settings(sandbox.tfc_url))

"""REST executor tests: the sandbox's REST echo target over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import pytest
from pao_common.executor.testing import ExecutorHarness
from pao_executors.rest import RestSettings, TargetGuard, build_executor

from tests.support.sandbox import SandboxServer, sandbox, sandbox_server

__all__ = ["sandbox", "sandbox_server"]


HarnessFactory = Callable[..., ExecutorHarness]


@pytest.fixture
async def rest_harness() -> AsyncIterator[HarnessFactory]:
    """Makes harnesses over the rest executor (loopback, i.e. the sandbox, allowed unless
    overridden); closes their HTTP clients afterwards."""
    made: list[ExecutorHarness] = []

    def make(
        *,
        environ: Mapping[str, str] | None = None,
        guard: TargetGuard | None = None,
        **settings: Any,
    ) -> ExecutorHarness:
        values: dict[str, Any] = {"allowed_hosts": "127.0.0.1", "timeout_s": 5.0}
        values.update(settings)
        harness = ExecutorHarness(
            build_executor(RestSettings.model_validate(values), guard=guard),
            environ=environ if environ is not None else {},
        )
        made.append(harness)
        return harness

    yield make
    for harness in made:
        for hook in harness.executor.stop_hooks:
            await hook(None)  # type: ignore[arg-type]


def script(sandbox: SandboxServer, path: str, *responses: dict[str, Any], **extra: Any) -> None:
    body = {"path": path, "responses": list(responses), **extra}
    httpx.post(f"{sandbox.echo_url}/sandbox/responses", json=body).raise_for_status()

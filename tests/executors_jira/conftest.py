"""JIRA executor tests: the sandbox JIRA over real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pao_common.executor.testing import ExecutorHarness
from pao_executors.jira import JiraSettings, LibraryJira, build_executor

from tests.support.sandbox import (
    JIRA_API_TOKEN,
    JIRA_EMAIL,
    JIRA_PAT,
    SandboxServer,
    sandbox,
    sandbox_server,
)

__all__ = ["sandbox", "sandbox_server"]


def jira_settings(sandbox: SandboxServer, **overrides: object) -> JiraSettings:
    values: dict[str, object] = {
        "url": sandbox.jira_url,
        "token": JIRA_PAT,
        "timeout_s": 5.0,
        "poll_interval_s": 0,
    }
    values.update(overrides)
    return JiraSettings.model_validate(values)


def cloud_settings(sandbox: SandboxServer, **overrides: object) -> JiraSettings:
    return jira_settings(
        sandbox, token=None, email=JIRA_EMAIL, api_token=JIRA_API_TOKEN, **overrides
    )


@pytest.fixture
def jira_client(sandbox: SandboxServer) -> Iterator[LibraryJira]:
    client = LibraryJira(jira_settings(sandbox))
    yield client
    client.close()


@pytest.fixture
def harness(sandbox: SandboxServer, jira_client: LibraryJira) -> ExecutorHarness:
    return ExecutorHarness(build_executor(jira_client, jira_settings(sandbox)))

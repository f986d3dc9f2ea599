"""The sandboxes of JIRA, GitHub, Terraform Cloud, ServiceNow, a REST target and notifications
(a chat-webhook sink, and an SMTP catcher on a second free port), on a free port.

``SandboxServer`` runs ``pao_sandbox.create_app`` under uvicorn in a
background thread, so clients reach it over real sockets. Fixtures::

    from tests.support.sandbox import sandbox, sandbox_server  # noqa: F401  (in a conftest)

    def test_x(sandbox: SandboxServer) -> None:
        sandbox.configure("jira", webhook_url=..., webhook_secret=...)
        sandbox.fault("jira", method="POST", path="/rest/api/2/issue", status=500)
        jira = JIRA(server=sandbox.jira_url, token_auth=JIRA_PAT)
        ...
        assert len(sandbox.state("jira")["issues"]) == 1

``sandbox_server`` is one server per session; ``sandbox`` resets its state, config,
faults and request log before each test. Test defaults (``sandbox_test_settings``) make runs
finish as soon as they are read (GitHub ``queued_s``/``in_progress_s`` and Terraform
``phase_s`` are 0); a test that wants to watch a run wait patches them to ``None``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from pao_devtools.ports import free_port
from pao_sandbox.app import SandboxSettings, create_app
from pao_sandbox.echo import EchoConfig
from pao_sandbox.github import GithubConfig
from pao_sandbox.jira import JiraConfig
from pao_sandbox.tfc import TfcConfig

JIRA_PAT = "sandbox-jira-pat"
JIRA_EMAIL = "pao@example.com"
JIRA_API_TOKEN = "sandbox-jira-token"
GITHUB_TOKEN = "sandbox-github-token"
TFC_TOKEN = "sandbox-tfc-token"
SERVICENOW_USER = "pao.integration"
SERVICENOW_PASSWORD = "sandbox-servicenow-password"


def sandbox_test_settings(**overrides: Any) -> SandboxSettings:
    """Sandbox settings for tests: credentials as above, runs that finish when read."""
    values: dict[str, Any] = {
        "jira": JiraConfig(),
        "github": GithubConfig(queued_s=0, in_progress_s=0),
        "tfc": TfcConfig(phase_s=0),
        "echo": EchoConfig(),
    }
    values.update(overrides)
    return SandboxSettings(**values)


class SandboxServer:
    """The sandbox app under uvicorn in a daemon thread, on ``127.0.0.1:<free port>``."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        port: int | None = None,
        smtp_port: int | None = None,
    ) -> None:
        self.settings = settings or sandbox_test_settings()
        self.port = port or free_port()
        self.smtp_port = smtp_port or free_port()
        self.app = create_app(self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jira_url(self) -> str:
        return f"{self.url}/jira"

    @property
    def github_url(self) -> str:
        return f"{self.url}/github"

    @property
    def tfc_url(self) -> str:
        return f"{self.url}/tfc"

    @property
    def servicenow_url(self) -> str:
        return f"{self.url}/servicenow"

    @property
    def echo_url(self) -> str:
        return f"{self.url}/echo"

    @property
    def notify_url(self) -> str:
        return f"{self.url}/notify"

    def start(self, timeout_s: float = 15.0) -> SandboxServer:
        self.app.state.systems["notify"].start_smtp("127.0.0.1", self.smtp_port)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self.app.state.systems["notify"].stop_smtp()

    # --- control API helpers (plain HTTP, like any other client) -------------------------

    def reset(self) -> None:
        httpx.post(f"{self.url}/sandbox/reset").raise_for_status()

    def configure(self, system: str, **patch: Any) -> dict[str, Any]:
        response = httpx.patch(f"{self.url}/{system}/sandbox/config", json=patch)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def fault(self, system: str, **spec: Any) -> None:
        httpx.post(f"{self.url}/{system}/sandbox/faults", json=spec).raise_for_status()

    def state(self, system: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/{system}/sandbox/state")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def requests(self, system: str, path: str = "*", method: str = "*") -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url}/{system}/sandbox/requests", params={"path": path, "method": method}
        )
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = SandboxServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox, reset to its initial settings and empty."""
    sandbox_server.reset()
    return sandbox_server

"""The sandbox server: every emulated system in one FastAPI app, one port.

``create_app(settings)`` mounts each system under its prefix::

    /jira    JIRA REST API v2/v3       (jira.JIRA(server="http://HOST:PORT/jira"))
    /github  GitHub REST API root      (API URL "http://HOST:PORT/github")
    /tfc     Terraform Cloud host root (API at "http://HOST:PORT/tfc/api/v2")
    /servicenow  ServiceNow instance root (Table API at ".../servicenow/api/now/table")
    /echo    generic REST target
    /notify  chat-webhook sink (``/notify/webhooks/{name}``) and the mails the SMTP
             catcher got (its own port, ``smtp_port``; ``python -m`` starts it)

and answers ``/`` (links to each system's UI), ``/healthz``, ``/readyz``,
``GET /sandbox/state`` and ``POST /sandbox/reset`` (every system at once).

Settings come from ``PAO_SANDBOX_*`` environment variables, nested with ``__``
(``PAO_SANDBOX_JIRA__WEBHOOK_URL``, ``PAO_SANDBOX_GITHUB__QUEUED_S``), or from a JSON
file named by ``PAO_SANDBOX_CONFIG_FILE``; every system's config can also be patched
at runtime with ``PATCH /<system>/sandbox/config``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pao_sandbox.common import SandboxSystem, esc, page
from pao_sandbox.echo import EchoConfig, EchoSandbox
from pao_sandbox.github import GithubConfig, GithubSandbox
from pao_sandbox.jira import JiraConfig, JiraSandbox
from pao_sandbox.notify import NotifyConfig, NotifySandbox
from pao_sandbox.servicenow import ServiceNowConfig, ServiceNowSandbox
from pao_sandbox.tfc import TfcConfig, TfcSandbox

DEFAULT_PORT = 8099


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAO_SANDBOX_", env_nested_delimiter="__", extra="ignore"
    )

    port: int = DEFAULT_PORT
    smtp_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="The SMTP catcher's port (None: the HTTP port + 1; 0: none)",
    )
    config_file: Path | None = Field(
        None, description="JSON with jira/github/tfc/servicenow/echo sections"
    )
    jira: JiraConfig = Field(default_factory=JiraConfig)
    github: GithubConfig = Field(default_factory=GithubConfig)
    tfc: TfcConfig = Field(default_factory=TfcConfig)
    servicenow: ServiceNowConfig = Field(default_factory=ServiceNowConfig)
    echo: EchoConfig = Field(default_factory=EchoConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    def resolved(self) -> SandboxSettings:
        """These settings with ``config_file``'s sections laid over them."""
        if self.config_file is None:
            return self
        document: dict[str, Any] = json.loads(self.config_file.read_text())
        merged = self.model_dump()
        for section, values in document.items():
            if isinstance(values, dict) and isinstance(merged.get(section), dict):
                merged[section] = {**merged[section], **values}
        merged["config_file"] = None
        return SandboxSettings.model_validate(merged)


def create_systems(settings: SandboxSettings) -> dict[str, SandboxSystem[Any]]:
    settings = settings.resolved()
    return {
        "jira": JiraSandbox(settings.jira),
        "github": GithubSandbox(settings.github),
        "tfc": TfcSandbox(settings.tfc),
        "servicenow": ServiceNowSandbox(settings.servicenow),
        "echo": EchoSandbox(settings.echo),
        "notify": NotifySandbox(settings.notify),
    }


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    systems = create_systems(settings or SandboxSettings())
    app = FastAPI(title="PAO sandboxes", docs_url="/sandbox/docs", redoc_url=None)
    app.state.systems = systems

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": "sandbox"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> dict[str, Any]:
        return {"status": "ready", "checks": {name: "ok" for name in systems}}

    @app.get("/sandbox/state", tags=["sandbox control"])
    async def state() -> dict[str, Any]:
        return {name: system.dump_state() for name, system in systems.items()}

    @app.post("/sandbox/reset", tags=["sandbox control"])
    async def reset() -> JSONResponse:
        for system in systems.values():
            system.reset()
        return JSONResponse({"status": "reset"})

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        items = "".join(
            f"<li><b>{esc(s.title)}</b>: API at <code>/{name}</code>, "
            f"<a href='/{name}/ui'>UI</a>, <a href='/{name}/sandbox/docs'>API docs</a>, "
            f"<a href='/{name}/sandbox/state'>state</a></li>"
            for name, s in systems.items()
            if name != "echo"
        )
        return page(
            "PAO sandboxes",
            f"<ul>{items}<li><b>REST echo</b>: <code>/echo/...</code>, "
            "<a href='/echo/sandbox/docs'>API docs</a></li></ul>",
        )

    for name, system in systems.items():
        app.mount(f"/{name}", system.build_app())
    return app

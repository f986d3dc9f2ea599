"""The GitHub sandbox, put together: state and lookups (``state``), runs (``runs``), how it
writes things (``rendering``), the API's routes (``routes``) and its own side (``ui``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pao_sandbox.github.rendering import GithubRendering
from pao_sandbox.github.routes import (
    add_app_routes,
    add_artifact_routes,
    add_run_routes,
    add_workflow_routes,
)
from pao_sandbox.github.ui import add_sandbox_routes


class GithubSandbox(GithubRendering):
    """GitHub's REST API root (Actions, App tokens), mounted at ``/github``."""

    def dump_state(self) -> dict[str, Any]:
        for run in self.runs.values():
            self.advance(run)
        return {
            "runs": [
                {k: v for k, v in r.items() if not k.startswith("_")} for r in self.runs.values()
            ],
            "artifacts": [
                {k: v for k, v in a.items() if k != "zip"} for a in self.artifacts.values()
            ],
            "installation_tokens": len(self.installation_tokens),
        }

    def add_routes(self, app: FastAPI) -> None:
        add_workflow_routes(app, self)
        add_run_routes(app, self)
        add_artifact_routes(app, self)
        add_app_routes(app, self)
        add_sandbox_routes(app, self)

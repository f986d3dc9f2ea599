"""The Terraform Cloud sandbox, put together: state (``state``), runs (``runs``), how it
writes resources (``rendering``, which reads runs as of now), the API's routes (``routes``)
and its own page (``ui``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pao_sandbox.tfc.rendering import TfcRendering
from pao_sandbox.tfc.routes import (
    add_run_routes,
    add_state_routes,
    add_variable_routes,
    add_workspace_routes,
)
from pao_sandbox.tfc.ui import add_sandbox_routes


class TfcSandbox(TfcRendering):
    """Terraform Cloud / Enterprise, mounted at ``/tfc`` (the host root)."""

    def dump_state(self) -> dict[str, Any]:
        self.seed()
        for run in self.runs.values():
            self.advance(run)
        return {
            "workspaces": list(self.workspaces.values()),
            "vars": list(self.vars.values()),
            "runs": [
                {k: v for k, v in r.items() if not k.startswith("_")} for r in self.runs.values()
            ],
            "state_versions": list(self.state_versions.values()),
            "apply_errors": self.apply_errors,
        }

    def add_routes(self, app: FastAPI) -> None:
        add_workspace_routes(app, self)
        add_variable_routes(app, self)
        add_run_routes(app, self)
        add_state_routes(app, self)
        add_sandbox_routes(app, self)

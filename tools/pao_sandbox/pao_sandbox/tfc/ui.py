"""The Terraform Cloud sandbox's own side: armed apply errors and the page of workspaces
and runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import Response

from pao_sandbox.common import (
    esc,
    page,
)
from pao_sandbox.tfc.config import (
    ApplyErrorBody,
)

if TYPE_CHECKING:
    from pao_sandbox.tfc.sandbox import TfcSandbox


def add_sandbox_routes(app: FastAPI, tfc: TfcSandbox) -> None:
    @app.post("/sandbox/faults/apply-error", tags=["tfc sandbox control"], status_code=201)
    async def apply_error(body: ApplyErrorBody) -> list[dict[str, Any]]:
        tfc.apply_errors.append(body.model_dump())
        return tfc.apply_errors

    @app.get("/ui", include_in_schema=False)
    async def ui() -> Response:
        tfc.seed()
        rows = ""
        for run in reversed(list(tfc.runs.values())):
            tfc.advance(run)
            ws = tfc.workspaces[run["workspace"]]
            rows += (
                f"<tr><td>{esc(run['id'])}</td><td>{esc(ws['attributes']['name'])}</td>"
                f"<td>{'destroy' if run['is-destroy'] else 'apply'}</td>"
                f"<td>{esc(run['status'])}</td><td>{esc(run['message'])}</td>"
                f"<td>{esc(run['error'] or '')}</td></tr>"
            )
        spaces = "".join(
            f"<li>{esc(w['organization'])}/{esc(w['attributes']['name'])} ({esc(w['id'])})</li>"
            for w in tfc.workspaces.values()
        )
        return page(
            "Sandbox Terraform Cloud",
            f"<h2>Workspaces</h2><ul>{spaces}</ul><h2>Runs</h2><table><tr><th>Run</th>"
            "<th>Workspace</th><th>Kind</th><th>Status</th><th>Message</th><th>Error</th></tr>"
            f"{rows}</table>",
        )

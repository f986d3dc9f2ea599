"""The GitHub sandbox's own side: its App's credentials, workflows added at run time,
runs started and finished by hand, the page of runs and each run's page."""

from __future__ import annotations

import json
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from pao_sandbox.common import (
    esc,
    page,
    system_base_url,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.github.config import (
    CompleteBody,
    GithubWorkflow,
)

if TYPE_CHECKING:
    from pao_sandbox.github.sandbox import GithubSandbox


def add_sandbox_routes(app: FastAPI, github: GithubSandbox) -> None:
    tag: list[str | Enum] = ["github sandbox control"]

    @app.get("/sandbox/app", tags=tag)
    async def app_credentials() -> dict[str, Any]:
        public = github.public_key()
        return {
            "app_id": github.config.app_id,
            "client_id": github.config.app_client_id,
            "installation_ids": github.config.installation_ids,
            "public_key_pem": public,
            "private_key_pem": github._private_pem if not github.config.app_public_key else None,
        }

    @app.post("/sandbox/workflows", tags=tag, status_code=201)
    async def add_workflow(workflow: GithubWorkflow) -> dict[str, Any]:
        github.config.workflows = [
            w
            for w in github.config.workflows
            if (w.repo.lower(), w.file) != (workflow.repo.lower(), workflow.file)
        ] + [workflow]
        return {"id": github.workflow_id(workflow), **workflow.model_dump()}

    @app.post("/sandbox/runs/{run_id}/start", tags=tag)
    async def start(run_id: int, request: Request) -> Any:
        run = github.sandbox_run(run_id)
        if run["status"] == "queued":
            github.start(run)
        return github.run_json(system_base_url(request), run)

    @app.post("/sandbox/runs/{run_id}/complete", tags=tag)
    async def complete(run_id: int, body: CompleteBody, request: Request) -> Any:
        run = github.sandbox_run(run_id)
        github.complete(run, body.conclusion, body.artifact, body.artifact_name)
        return github.run_json(system_base_url(request), run)

    @app.post("/ui/runs/{run_id}/complete", include_in_schema=False)
    async def complete_form(run_id: int, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        run = github.sandbox_run(run_id)
        artifact = None
        if form.get("artifact", "").strip():
            try:
                artifact = json.loads(form["artifact"])
            except ValueError as exc:
                raise SandboxApiError(400, f"artifact is not JSON: {exc}") from exc
        github.complete(run, form.get("conclusion", "success"), artifact, None)
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/{run['repository']}/actions/runs/{run_id}", 303)

    @app.get("/ui", include_in_schema=False)
    async def ui(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        rows = ""
        for run in sorted(github.runs.values(), key=lambda r: r["id"], reverse=True):
            github.advance(run)
            link = f"{root}/{run['repository']}/actions/runs/{run['id']}"
            rows += (
                f"<tr><td><a href='{esc(link)}'>{run['id']}</a></td>"
                f"<td>{esc(run['repository'])}</td><td>{esc(run['display_title'])}</td>"
                f"<td>{esc(run['status'])}</td><td>{esc(run['conclusion'])}</td>"
                f"<td>{finish_buttons(root, run)}</td></tr>"
            )
        return page(
            "Sandbox GitHub Actions: workflow runs",
            "<table><tr><th>Run</th><th>Repository</th><th>Title</th><th>Status</th>"
            f"<th>Conclusion</th><th></th></tr>{rows or NO_ROWS}</table>",
        )

    @app.get("/{owner}/{repo}/actions/runs/{run_id}", include_in_schema=False)
    async def run_page(owner: str, repo: str, run_id: int, request: Request) -> Response:
        run = github.repo_run(owner, repo, run_id)
        github.advance(run)
        root = request.scope.get("root_path", "")
        arts = "".join(
            f"<li>{esc(a['name'])}: <pre>{esc(json.dumps(a['content'], indent=2))}</pre></li>"
            for a in github.artifacts.values()
            if a["run_id"] == run_id
        )
        return page(
            f"{run['name']} #{run['run_number']}: {run['display_title']}",
            f"<p><a href='{root}/ui'>all runs</a></p><table>"
            f"<tr><th>Status</th><td>{esc(run['status'])}</td></tr>"
            f"<tr><th>Conclusion</th><td>{esc(run['conclusion'])}</td></tr>"
            f"<tr><th>Branch</th><td>{esc(run['head_branch'])}</td></tr>"
            f"<tr><th>Inputs</th><td><pre>{esc(json.dumps(run['inputs'], indent=2))}</pre>"
            "</td></tr>"
            f"</table><h2>Artifacts</h2><ul>{arts}</ul>{finish_buttons(root, run, full=True)}",
        )


NO_ROWS = "<tr><td>No runs yet.</td></tr>"


def finish_buttons(root: str, run: dict[str, Any], full: bool = False) -> str:
    if run["status"] == "completed":
        return ""
    artifact = (
        "<br><textarea name='artifact' rows='4' cols='60' "
        "placeholder='artifact JSON (empty: the workflow default)'></textarea><br>"
        if full
        else ""
    )
    return (
        f"<form method='post' action='{root}/ui/runs/{run['id']}/complete'>{artifact}"
        "<button name='conclusion' value='success'>Succeed</button>"
        "<button name='conclusion' value='failure'>Fail</button>"
        "<button name='conclusion' value='cancelled'>Cancel</button></form>"
    )

"""The GitHub sandbox's REST API as routes, one group per resource: workflows (and
dispatching one), runs, artifacts, the GitHub App."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from pao_sandbox.common import (
    iso_z,
    json_body,
    system_base_url,
    utcnow,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.github.config import (
    REPO_API,
)

if TYPE_CHECKING:
    from pao_sandbox.github.sandbox import GithubSandbox


def add_workflow_routes(app: FastAPI, github: GithubSandbox) -> None:
    """Workflows and dispatching one."""

    @app.get(REPO_API + "/workflows")
    async def list_workflows(owner: str, repo: str, request: Request) -> Any:
        github.authenticate(request)
        base = system_base_url(request)
        flows = github.workflows(f"{owner}/{repo}")
        return {
            "total_count": len(flows),
            "workflows": [github.workflow_json(base, w) for w in flows],
        }

    @app.get(REPO_API + "/workflows/{workflow_ref}")
    async def get_workflow(owner: str, repo: str, workflow_ref: str, request: Request) -> Any:
        github.authenticate(request)
        workflow = github.find_workflow(f"{owner}/{repo}", workflow_ref)
        return github.workflow_json(system_base_url(request), workflow)

    @app.post(REPO_API + "/workflows/{workflow_ref}/dispatches")
    async def dispatch(owner: str, repo: str, workflow_ref: str, request: Request) -> Response:
        actor = github.authenticate(request)
        workflow = github.find_workflow(f"{owner}/{repo}", workflow_ref)
        body = await json_body(request)
        base = system_base_url(request)
        run = github.dispatch(base, workflow, body, actor)
        if isinstance(body, dict) and body.get("return_run_details") is True:
            data = github.run_json(base, run)
            return JSONResponse(
                {
                    "workflow_run_id": run["id"],
                    "run_url": data["url"],
                    "html_url": data["html_url"],
                }
            )
        return Response(status_code=204)


def add_run_routes(app: FastAPI, github: GithubSandbox) -> None:
    """Workflow runs: listed, read, cancelled."""

    @app.get(REPO_API + "/runs")
    async def list_runs(owner: str, repo: str, request: Request) -> Any:
        github.authenticate(request)
        return github.list_runs(system_base_url(request), f"{owner}/{repo}", request, None)

    @app.get(REPO_API + "/workflows/{workflow_ref}/runs")
    async def list_workflow_runs(owner: str, repo: str, workflow_ref: str, request: Request) -> Any:
        github.authenticate(request)
        workflow = github.find_workflow(f"{owner}/{repo}", workflow_ref)
        base = system_base_url(request)
        return github.list_runs(base, f"{owner}/{repo}", request, github.workflow_id(workflow))

    @app.get(REPO_API + "/runs/{run_id}")
    async def get_run(owner: str, repo: str, run_id: int, request: Request) -> Any:
        github.authenticate(request)
        return github.run_json(system_base_url(request), github.repo_run(owner, repo, run_id))

    @app.post(REPO_API + "/runs/{run_id}/cancel", status_code=202)
    async def cancel_run(owner: str, repo: str, run_id: int, request: Request) -> Any:
        github.authenticate(request)
        run = github.repo_run(owner, repo, run_id)
        github.advance(run)
        if run["status"] == "completed":
            raise SandboxApiError(409, "Cannot cancel a workflow run that is completed.")
        github.complete(run, "cancelled", None, None)
        return JSONResponse({}, status_code=202)


def add_artifact_routes(app: FastAPI, github: GithubSandbox) -> None:
    """A run's artifacts and their download (a redirect to a blob)."""

    @app.get(REPO_API + "/runs/{run_id}/artifacts")
    async def run_artifacts(owner: str, repo: str, run_id: int, request: Request) -> Any:
        github.authenticate(request)
        run = github.repo_run(owner, repo, run_id)
        github.advance(run)
        found = [a for a in github.artifacts.values() if a["run_id"] == run_id]
        if name := request.query_params.get("name"):
            found = [a for a in found if a["name"] == name]
        base = system_base_url(request)
        return {
            "total_count": len(found),
            "artifacts": [github.artifact_json(base, a) for a in found],
        }

    @app.get(REPO_API + "/artifacts/{artifact_id}")
    async def get_artifact(owner: str, repo: str, artifact_id: int, request: Request) -> Any:
        github.authenticate(request)
        return github.artifact_json(
            system_base_url(request), github.repo_artifact(owner, repo, artifact_id)
        )

    @app.get(REPO_API + "/artifacts/{artifact_id}/{archive_format}")
    async def download(
        owner: str, repo: str, artifact_id: int, archive_format: str, request: Request
    ) -> Response:
        github.authenticate(request)
        artifact = github.repo_artifact(owner, repo, artifact_id)
        if archive_format != "zip":
            raise SandboxApiError(404, "Not Found")
        blob = secrets.token_urlsafe(24)
        github.blobs[blob] = artifact["id"]
        # Like GitHub: a redirect to short-lived storage that takes no Authorization.
        return RedirectResponse(f"{system_base_url(request)}/_blobs/{blob}", status_code=302)

    @app.get("/_blobs/{blob}", include_in_schema=False)
    async def blob(blob: str) -> Response:
        artifact_id = github.blobs.get(blob)
        if artifact_id is None:
            return Response("BlobNotFound", status_code=404, media_type="text/plain")
        return Response(github.artifacts[artifact_id]["zip"], media_type="application/zip")


def add_app_routes(app: FastAPI, github: GithubSandbox) -> None:
    """The GitHub App: the app, a repository's installation, installation tokens."""

    @app.get("/app")
    async def get_app(request: Request) -> Any:
        github.authenticate_app(request)
        return {
            "id": int(github.config.app_id),
            "slug": github.config.app_slug,
            "client_id": github.config.app_client_id,
            "name": "PAO sandbox app",
            "owner": {"login": "pao"},
        }

    @app.get("/repos/{owner}/{repo}/installation")
    async def repo_installation(owner: str, repo: str, request: Request) -> Any:
        github.authenticate_app(request)
        return github.installation_json(system_base_url(request), github.config.installation_ids[0])

    @app.post("/app/installations/{installation_id}/access_tokens", status_code=201)
    async def access_token(installation_id: int, request: Request) -> Any:
        github.authenticate_app(request)
        if installation_id not in github.config.installation_ids:
            raise SandboxApiError(404, "Not Found")
        body = await json_body(request, empty={}) or {}
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires = utcnow() + timedelta(hours=1)
        github.installation_tokens[token] = {
            "installation_id": installation_id,
            "expires": time.time() + 3600,
        }
        permissions = body.get("permissions") or {
            "actions": "write",
            "contents": "read",
            "metadata": "read",
        }
        return JSONResponse(
            {
                "token": token,
                "expires_at": iso_z(expires),
                "permissions": permissions,
                "repository_selection": "selected" if body.get("repositories") else "all",
            },
            status_code=201,
        )

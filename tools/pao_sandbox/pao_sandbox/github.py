"""GitHub sandbox: Actions ``workflow_dispatch``, runs, artifacts and GitHub App tokens.

Mounted at ``/github``: it is the API root (what ``https://api.github.com`` is), so a
client uses ``http://HOST:PORT/github/repos/{owner}/{repo}/...``.

Real API::

    POST /repos/{o}/{r}/actions/workflows/{id|file}/dispatches   204; 200 {workflow_run_id,
         run_url, html_url} with "return_run_details": true; 422 on bad ref/inputs
    GET  /repos/{o}/{r}/actions/workflows[/{id|file}]
    GET  /repos/{o}/{r}/actions/runs          ?event= &status= &branch= &actor= &created=
    GET  /repos/{o}/{r}/actions/workflows/{id|file}/runs           (same filters)
    GET  /repos/{o}/{r}/actions/runs/{run_id}
    POST /repos/{o}/{r}/actions/runs/{run_id}/cancel               202; 409 if completed
    GET  /repos/{o}/{r}/actions/runs/{run_id}/artifacts             ?name=
    GET  /repos/{o}/{r}/actions/artifacts/{artifact_id}[/zip]       zip: 302 to a blob URL
    GET  /app, GET /repos/{o}/{r}/installation                      with the app's JWT
    POST /app/installations/{installation_id}/access_tokens          201 {token, expires_at}

Auth: ``Authorization: Bearer|token <t>`` where ``t`` is one of ``tokens`` or an
installation token the sandbox issued; app endpoints take an RS256 JWT signed with the
key whose public half is ``app_public_key`` (unset: the sandbox makes a key pair and
hands the private key out at ``GET /sandbox/app``).

As on GitHub, the runs list does NOT carry the dispatch inputs. Correlate through the
run's ``display_title``, rendered from the workflow's ``run-name`` template
(``run_name``; for workflows the sandbox invents: ``default_run_name``, which shows
``inputs.correlation_id``). Only ``${{ inputs.x }}``, ``${{ github.event.inputs.x }}``,
``${{ github.workflow|actor|ref_name }}`` and ``a || 'literal'`` are understood.

Runs go queued -> in_progress -> completed after ``queued_s`` / ``in_progress_s`` (None:
wait for a person), concluding with the workflow's ``conclusion`` and uploading its JSON
artifact. Sandbox side: ``POST /sandbox/runs/{id}/complete {"conclusion", "artifact"}``,
``GET /ui`` (all runs) and each run's ``html_url`` page, both with buttons.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import time
import zipfile
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, field_validator

from pao_sandbox.common import (
    SandboxSystem,
    esc,
    iso_z,
    json_body,
    page,
    system_base_url,
    utcnow,
)
from pao_sandbox.errors import SandboxApiError

DOCS = "https://docs.github.com/rest"
REPO_API = "/repos/{owner}/{repo}/actions"
Conclusion = Literal["success", "failure", "cancelled", "timed_out"]


class WorkflowInput(BaseModel):
    required: bool = False
    default: str | None = None
    type: str = "string"


class GithubWorkflow(BaseModel):
    repo: str = Field(description="owner/name")
    file: str = Field(description="File name under .github/workflows, e.g. provision.yml")
    name: str | None = None
    inputs: dict[str, WorkflowInput] | None = Field(
        None, description="Declared inputs; None accepts any"
    )
    run_name: str | None = Field(None, description="The workflow's run-name template")
    conclusion: Conclusion = "success"
    artifact_name: str = "outputs"
    artifact_file: str = "outputs.json"
    artifact: Any = Field(
        None, description="JSON put in the artifact; None: {inputs, run_id, conclusion}"
    )

    @property
    def title(self) -> str:
        return self.name or self.file.rsplit(".", 1)[0].replace("-", " ").replace("_", " ").title()


class GithubConfig(BaseModel):
    tokens: list[str] = Field(default_factory=lambda: ["sandbox-github-token"])
    token_user: str = "pao-bot"
    app_id: str = "1001"
    app_client_id: str = "Iv1.sandbox0000000001"
    app_slug: str = "pao-sandbox"
    app_public_key: str = Field("", description="PEM; empty: generated, see GET /sandbox/app")
    installation_ids: list[int] = Field(default_factory=lambda: [4242])
    workflows: list[GithubWorkflow] = Field(default_factory=list)
    auto_workflows: bool = Field(True, description="Any workflow file exists, inputs unchecked")
    default_run_name: str = "${{ github.workflow }} ${{ inputs.correlation_id }}"
    queued_s: float | None = Field(1.0, description="None: stays queued until started by hand")
    in_progress_s: float | None = Field(3.0, description="None: runs until completed by hand")

    @field_validator("queued_s", "in_progress_s", mode="before")
    @classmethod
    def _null_means_by_hand(cls, value: Any) -> Any:
        # Environment variables cannot say None; "null", "none" and "" do.
        if isinstance(value, str) and value.strip().lower() in ("", "null", "none"):
            return None
        return value


class CompleteBody(BaseModel):
    conclusion: Conclusion = "success"
    artifact: Any = Field(None, description="JSON for the workflow's artifact (default: its own)")
    artifact_name: str | None = None


_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def render_run_name(template: str, inputs: dict[str, Any], github: dict[str, str]) -> str:
    """The subset of Actions expressions a ``run-name`` typically uses."""

    def value(term: str) -> str:
        term = term.strip()
        if term[:1] in ("'", '"'):
            return term[1:-1]
        for prefix in ("inputs.", "github.event.inputs."):
            if term.startswith(prefix):
                found = inputs.get(term[len(prefix) :])
                return (
                    ""
                    if found is None
                    else str(found).lower()
                    if isinstance(found, bool)
                    else str(found)
                )
        if term.startswith("github."):
            return github.get(term[len("github.") :], "")
        return ""

    def evaluate(match: re.Match[str]) -> str:
        for option in match.group(1).split("||"):
            if result := value(option):
                return result
        return ""

    return " ".join(_EXPR.sub(evaluate, template).split())


def parse_when(text: str, *, end_of_day: bool = False) -> datetime:
    text = text.strip().replace(" ", "+")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text + "T00:00:00+00:00")
        return day + timedelta(days=1, seconds=-1) if end_of_day else day
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def created_matches(expr: str, created: datetime) -> bool:
    """GitHub's date-range syntax: ``>=T``, ``<T``, ``A..B`` (``*`` open), or a day."""
    try:
        if ".." in expr:
            low, high = expr.split("..", 1)
            return (low == "*" or created >= parse_when(low)) and (
                high == "*" or created <= parse_when(high, end_of_day=True)
            )
        for op in (">=", "<=", ">", "<"):
            if expr.startswith(op):
                bound = parse_when(expr[len(op) :], end_of_day=op in ("<=", ">"))
                return {
                    ">=": created >= bound,
                    "<=": created <= bound,
                    ">": created > bound,
                    "<": created < bound,
                }[op]
        return parse_when(expr) <= created <= parse_when(expr, end_of_day=True)
    except ValueError as exc:
        raise SandboxApiError(422, f"Invalid created filter {expr!r}: {exc}") from exc


class GithubSandbox(SandboxSystem[GithubConfig]):
    name: ClassVar[str] = "github"
    title: ClassVar[str] = "GitHub Actions"
    config_model: ClassVar[type[BaseModel]] = GithubConfig

    def reset_state(self) -> None:
        self.runs: dict[int, dict[str, Any]] = {}
        self.artifacts: dict[int, dict[str, Any]] = {}
        self.blobs: dict[str, int] = {}
        self.installation_tokens: dict[str, dict[str, Any]] = {}
        self.invented: list[GithubWorkflow] = []
        self.workflow_ids: dict[tuple[str, str], int] = {}
        self.run_numbers: dict[int, int] = {}
        self.next_run_id = 10_000_000_001
        self.next_artifact_id = 2_000_000_001
        if not hasattr(self, "_private_pem"):
            self._private_pem: str | None = None
            self._generated_public: str | None = None

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

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        body: dict[str, Any] = {
            "message": message or "Error",
            "documentation_url": DOCS,
            "status": str(status),
        }
        if fields:
            body["errors"] = [{"field": k, "message": v} for k, v in fields.items()]
        return body

    # --- auth ---------------------------------------------------------------------------

    def public_key(self) -> str:
        if self.config.app_public_key:
            return self.config.app_public_key
        if self._generated_public is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._private_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            self._generated_public = (
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
        return self._generated_public

    def bearer(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise SandboxApiError(401, "Requires authentication")
        if scheme.lower() not in ("bearer", "token") or not token:
            raise SandboxApiError(401, "Bad credentials")
        return token.strip()

    def authenticate(self, request: Request) -> str:
        """The actor behind a PAT or an installation token."""
        token = self.bearer(request)
        if token in self.config.tokens:
            return self.config.token_user
        issued = self.installation_tokens.get(token)
        if issued and issued["expires"] > time.time():
            return f"{self.config.app_slug}[bot]"
        raise SandboxApiError(401, "Bad credentials")

    def authenticate_app(self, request: Request) -> dict[str, Any]:
        token = self.bearer(request)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key(),
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError as exc:
            raise SandboxApiError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires",
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise SandboxApiError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the "
                "assertion was issued",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise SandboxApiError(401, "A JSON web token could not be decoded") from exc
        if int(claims["exp"]) - time.time() > 600 + 60:
            raise SandboxApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(claims["iss"]) not in (self.config.app_id, self.config.app_client_id):
            raise SandboxApiError(401, "'Issuer' claim ('iss') does not name this app")
        return claims

    # --- workflows ----------------------------------------------------------------------

    def workflows(self, repo: str) -> list[GithubWorkflow]:
        all_ = [*self.config.workflows, *self.invented]
        return [w for w in all_ if w.repo.lower() == repo.lower()]

    def workflow_id(self, workflow: GithubWorkflow) -> int:
        key = (workflow.repo.lower(), workflow.file)
        if key not in self.workflow_ids:
            self.workflow_ids[key] = 100_000_001 + len(self.workflow_ids)
        return self.workflow_ids[key]

    def find_workflow(self, repo: str, ref: str) -> GithubWorkflow:
        for workflow in self.workflows(repo):
            if ref in (workflow.file, str(self.workflow_id(workflow))):
                return workflow
        if self.config.auto_workflows and re.fullmatch(r"[\w.-]+\.ya?ml", ref):
            invented = GithubWorkflow(repo=repo, file=ref, run_name=self.config.default_run_name)
            self.invented.append(invented)
            return invented
        raise SandboxApiError(404, "Not Found")

    def workflow_json(self, base: str, workflow: GithubWorkflow) -> dict[str, Any]:
        wid = self.workflow_id(workflow)
        return {
            "id": wid,
            "node_id": f"W_{wid}",
            "name": workflow.title,
            "path": f".github/workflows/{workflow.file}",
            "state": "active",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "url": f"{base}/repos/{workflow.repo}/actions/workflows/{wid}",
            "html_url": f"{base}/{workflow.repo}/blob/main/.github/workflows/{workflow.file}",
            "badge_url": f"{base}/{workflow.repo}/workflows/{workflow.file}/badge.svg",
        }

    # --- runs ---------------------------------------------------------------------------

    def dispatch(
        self, base: str, workflow: GithubWorkflow, body: Any, actor: str
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SandboxApiError(400, "Problems parsing JSON")
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise SandboxApiError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise SandboxApiError(
                422, "Invalid request.\n\nFor 'properties/inputs', it is not an object."
            )
        if len(inputs) > 25:
            raise SandboxApiError(
                422,
                "Invalid request.\n\nNo more than 25 properties are allowed; "
                f"{len(inputs)} were supplied.",
            )
        bad = [k for k, v in inputs.items() if not isinstance(v, str | bool | int | float)]
        if bad:
            raise SandboxApiError(
                422, f"Invalid request.\n\nFor 'properties/{bad[0]}', it is not a string."
            )
        if workflow.inputs is not None:
            unexpected = sorted(set(inputs) - set(workflow.inputs))
            if unexpected:
                raise SandboxApiError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
            for name, spec in workflow.inputs.items():
                if name not in inputs:
                    if spec.required and spec.default is None:
                        raise SandboxApiError(422, f"Required input '{name}' not provided")
                    if spec.default is not None:
                        inputs[name] = spec.default
        branch = re.sub(r"^refs/(heads|tags)/", "", ref)
        wid = self.workflow_id(workflow)
        self.run_numbers[wid] = self.run_numbers.get(wid, 0) + 1
        run_id = self.next_run_id
        self.next_run_id += 1
        github = {
            "workflow": workflow.title,
            "actor": actor,
            "ref_name": branch,
            "ref": ref,
            "event_name": "workflow_dispatch",
        }
        template = workflow.run_name
        title = render_run_name(template, inputs, github) if template else workflow.title
        now = utcnow()
        run = {
            "id": run_id,
            "name": workflow.title,
            "node_id": f"WFR_{run_id}",
            "display_title": title or workflow.title,
            "head_branch": branch,
            "head_sha": secrets.token_hex(20),
            "path": f".github/workflows/{workflow.file}",
            "run_number": self.run_numbers[wid],
            "run_attempt": 1,
            "event": "workflow_dispatch",
            "status": "queued",
            "conclusion": None,
            "workflow_id": wid,
            "created_at": iso_z(now),
            "updated_at": iso_z(now),
            "run_started_at": iso_z(now),
            "actor": {"login": actor, "type": "Bot" if actor.endswith("[bot]") else "User"},
            "triggering_actor": {"login": actor},
            "repository": workflow.repo,
            "pull_requests": [],
            "inputs": dict(inputs),  # sandbox state only: GitHub does not return these
            "_workflow": workflow,
            "_t_created": time.monotonic(),
            "_t_started": None,
        }
        self.runs[run_id] = run
        return run

    def advance(self, run: dict[str, Any]) -> None:
        """Move a run along by the clock (``queued_s`` / ``in_progress_s``)."""
        now = time.monotonic()
        queued_s, running_s = self.config.queued_s, self.config.in_progress_s
        queued = run["status"] == "queued" and queued_s is not None
        if queued and now >= run["_t_created"] + queued_s:
            self.start(run, at=run["_t_created"] + queued_s)
        running = run["status"] == "in_progress" and running_s is not None
        if running and now >= run["_t_started"] + running_s:
            workflow: GithubWorkflow = run["_workflow"]
            self.complete(run, workflow.conclusion, workflow.artifact, None)

    def start(self, run: dict[str, Any], at: float | None = None) -> None:
        run["status"] = "in_progress"
        run["_t_started"] = at if at is not None else time.monotonic()
        run["run_started_at"] = run["updated_at"] = iso_z(utcnow())

    def complete(
        self, run: dict[str, Any], conclusion: str, artifact: Any, artifact_name: str | None
    ) -> None:
        if run["status"] == "completed":
            raise SandboxApiError(
                409, f"Run {run['id']} is already completed ({run['conclusion']})"
            )
        if run["status"] == "queued":
            self.start(run)
        workflow: GithubWorkflow = run["_workflow"]
        run["status"] = "completed"
        run["conclusion"] = conclusion
        run["updated_at"] = iso_z(utcnow())
        if conclusion == "cancelled":
            return
        content = artifact if artifact is not None else workflow.artifact
        if content is None:
            content = {"run_id": run["id"], "conclusion": conclusion, "inputs": run["inputs"]}
        self.upload(run, artifact_name or workflow.artifact_name, workflow.artifact_file, content)

    def upload(self, run: dict[str, Any], name: str, file: str, content: Any) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(file, json.dumps(content, indent=2))
        artifact_id = self.next_artifact_id
        self.next_artifact_id += 1
        now = utcnow()
        self.artifacts[artifact_id] = {
            "id": artifact_id,
            "node_id": f"MDg6QXJ0aWZhY3Q{artifact_id}",
            "name": name,
            "size_in_bytes": len(buffer.getvalue()),
            "expired": False,
            "created_at": iso_z(now),
            "updated_at": iso_z(now),
            "expires_at": iso_z(now + timedelta(days=90)),
            "digest": None,
            "run_id": run["id"],
            "repository": run["repository"],
            "file": file,
            "content": content,
            "zip": buffer.getvalue(),
        }

    def run_json(self, base: str, run: dict[str, Any]) -> dict[str, Any]:
        self.advance(run)
        repo = run["repository"]
        api = f"{base}/repos/{repo}/actions/runs/{run['id']}"
        owner, name = repo.split("/", 1)
        body = {k: v for k, v in run.items() if not k.startswith("_") and k != "inputs"}
        body.update(
            {
                "url": api,
                "html_url": f"{base}/{repo}/actions/runs/{run['id']}",
                "jobs_url": f"{api}/jobs",
                "logs_url": f"{api}/logs",
                "artifacts_url": f"{api}/artifacts",
                "cancel_url": f"{api}/cancel",
                "rerun_url": f"{api}/rerun",
                "workflow_url": f"{base}/repos/{repo}/actions/workflows/{run['workflow_id']}",
                "repository": {"name": name, "full_name": repo, "owner": {"login": owner}},
            }
        )
        return body

    def artifact_json(self, base: str, artifact: dict[str, Any]) -> dict[str, Any]:
        repo = artifact["repository"]
        api = f"{base}/repos/{repo}/actions/artifacts/{artifact['id']}"
        body = {
            k: v
            for k, v in artifact.items()
            if k not in ("zip", "content", "file", "run_id", "repository")
        }
        body.update(
            {
                "url": api,
                "archive_download_url": f"{api}/zip",
                "workflow_run": {
                    "id": artifact["run_id"],
                    "repository_id": 1,
                    "head_branch": self.runs[artifact["run_id"]]["head_branch"],
                },
            }
        )
        return body

    def repo_run(self, owner: str, repo: str, run_id: int) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None or run["repository"].lower() != f"{owner}/{repo}".lower():
            raise SandboxApiError(404, "Not Found")
        return run

    def list_runs(self, base: str, repo: str, request: Request, workflow_id: int | None) -> Any:
        q = request.query_params
        runs = [r for r in self.runs.values() if r["repository"].lower() == repo.lower()]
        if workflow_id is not None:
            runs = [r for r in runs if r["workflow_id"] == workflow_id]
        for run in runs:
            self.advance(run)
        if "event" in q:
            runs = [r for r in runs if r["event"] == q["event"]]
        if "branch" in q:
            runs = [r for r in runs if r["head_branch"] == q["branch"]]
        if "actor" in q:
            runs = [r for r in runs if r["actor"]["login"] == q["actor"]]
        if "head_sha" in q:
            runs = [r for r in runs if r["head_sha"] == q["head_sha"]]
        if "status" in q:
            wanted = q["status"]
            runs = [r for r in runs if wanted in (r["status"], r["conclusion"])]
        if "created" in q:
            runs = [r for r in runs if created_matches(q["created"], parse_when(r["created_at"]))]
        runs.sort(key=lambda r: r["id"], reverse=True)
        per_page = max(1, min(int(q.get("per_page", 30)), 100))
        page_no = max(1, int(q.get("page", 1)))
        chosen = runs[(page_no - 1) * per_page : page_no * per_page]
        return {"total_count": len(runs), "workflow_runs": [self.run_json(base, r) for r in chosen]}

    # --- routes -------------------------------------------------------------------------

    def add_routes(self, app: FastAPI) -> None:
        self.add_workflow_routes(app)
        self.add_run_routes(app)
        self.add_artifact_routes(app)
        self.add_app_routes(app)
        self.add_sandbox_routes(app)

    def add_workflow_routes(self, app: FastAPI) -> None:
        """Workflows and dispatching one."""

        @app.get(REPO_API + "/workflows")
        async def list_workflows(owner: str, repo: str, request: Request) -> Any:
            self.authenticate(request)
            base = system_base_url(request)
            flows = self.workflows(f"{owner}/{repo}")
            return {
                "total_count": len(flows),
                "workflows": [self.workflow_json(base, w) for w in flows],
            }

        @app.get(REPO_API + "/workflows/{workflow_ref}")
        async def get_workflow(owner: str, repo: str, workflow_ref: str, request: Request) -> Any:
            self.authenticate(request)
            workflow = self.find_workflow(f"{owner}/{repo}", workflow_ref)
            return self.workflow_json(system_base_url(request), workflow)

        @app.post(REPO_API + "/workflows/{workflow_ref}/dispatches")
        async def dispatch(owner: str, repo: str, workflow_ref: str, request: Request) -> Response:
            actor = self.authenticate(request)
            workflow = self.find_workflow(f"{owner}/{repo}", workflow_ref)
            body = await json_body(request)
            base = system_base_url(request)
            run = self.dispatch(base, workflow, body, actor)
            if isinstance(body, dict) and body.get("return_run_details") is True:
                data = self.run_json(base, run)
                return JSONResponse(
                    {
                        "workflow_run_id": run["id"],
                        "run_url": data["url"],
                        "html_url": data["html_url"],
                    }
                )
            return Response(status_code=204)

    def add_run_routes(self, app: FastAPI) -> None:
        """Workflow runs: listed, read, cancelled."""

        @app.get(REPO_API + "/runs")
        async def list_runs(owner: str, repo: str, request: Request) -> Any:
            self.authenticate(request)
            return self.list_runs(system_base_url(request), f"{owner}/{repo}", request, None)

        @app.get(REPO_API + "/workflows/{workflow_ref}/runs")
        async def list_workflow_runs(
            owner: str, repo: str, workflow_ref: str, request: Request
        ) -> Any:
            self.authenticate(request)
            workflow = self.find_workflow(f"{owner}/{repo}", workflow_ref)
            base = system_base_url(request)
            return self.list_runs(base, f"{owner}/{repo}", request, self.workflow_id(workflow))

        @app.get(REPO_API + "/runs/{run_id}")
        async def get_run(owner: str, repo: str, run_id: int, request: Request) -> Any:
            self.authenticate(request)
            return self.run_json(system_base_url(request), self.repo_run(owner, repo, run_id))

        @app.post(REPO_API + "/runs/{run_id}/cancel", status_code=202)
        async def cancel_run(owner: str, repo: str, run_id: int, request: Request) -> Any:
            self.authenticate(request)
            run = self.repo_run(owner, repo, run_id)
            self.advance(run)
            if run["status"] == "completed":
                raise SandboxApiError(409, "Cannot cancel a workflow run that is completed.")
            self.complete(run, "cancelled", None, None)
            return JSONResponse({}, status_code=202)

    def add_artifact_routes(self, app: FastAPI) -> None:
        """A run's artifacts and their download (a redirect to a blob)."""

        @app.get(REPO_API + "/runs/{run_id}/artifacts")
        async def run_artifacts(owner: str, repo: str, run_id: int, request: Request) -> Any:
            self.authenticate(request)
            run = self.repo_run(owner, repo, run_id)
            self.advance(run)
            found = [a for a in self.artifacts.values() if a["run_id"] == run_id]
            if name := request.query_params.get("name"):
                found = [a for a in found if a["name"] == name]
            base = system_base_url(request)
            return {
                "total_count": len(found),
                "artifacts": [self.artifact_json(base, a) for a in found],
            }

        @app.get(REPO_API + "/artifacts/{artifact_id}")
        async def get_artifact(owner: str, repo: str, artifact_id: int, request: Request) -> Any:
            self.authenticate(request)
            return self.artifact_json(
                system_base_url(request), self.repo_artifact(owner, repo, artifact_id)
            )

        @app.get(REPO_API + "/artifacts/{artifact_id}/{archive_format}")
        async def download(
            owner: str, repo: str, artifact_id: int, archive_format: str, request: Request
        ) -> Response:
            self.authenticate(request)
            artifact = self.repo_artifact(owner, repo, artifact_id)
            if archive_format != "zip":
                raise SandboxApiError(404, "Not Found")
            blob = secrets.token_urlsafe(24)
            self.blobs[blob] = artifact["id"]
            # Like GitHub: a redirect to short-lived storage that takes no Authorization.
            return RedirectResponse(f"{system_base_url(request)}/_blobs/{blob}", status_code=302)

        @app.get("/_blobs/{blob}", include_in_schema=False)
        async def blob(blob: str) -> Response:
            artifact_id = self.blobs.get(blob)
            if artifact_id is None:
                return Response("BlobNotFound", status_code=404, media_type="text/plain")
            return Response(self.artifacts[artifact_id]["zip"], media_type="application/zip")

    def add_app_routes(self, app: FastAPI) -> None:
        """The GitHub App: the app, a repository's installation, installation tokens."""

        @app.get("/app")
        async def get_app(request: Request) -> Any:
            self.authenticate_app(request)
            return {
                "id": int(self.config.app_id),
                "slug": self.config.app_slug,
                "client_id": self.config.app_client_id,
                "name": "PAO sandbox app",
                "owner": {"login": "pao"},
            }

        @app.get("/repos/{owner}/{repo}/installation")
        async def repo_installation(owner: str, repo: str, request: Request) -> Any:
            self.authenticate_app(request)
            return self.installation_json(system_base_url(request), self.config.installation_ids[0])

        @app.post("/app/installations/{installation_id}/access_tokens", status_code=201)
        async def access_token(installation_id: int, request: Request) -> Any:
            self.authenticate_app(request)
            if installation_id not in self.config.installation_ids:
                raise SandboxApiError(404, "Not Found")
            body = await json_body(request, empty={}) or {}
            token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
            expires = utcnow() + timedelta(hours=1)
            self.installation_tokens[token] = {
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

    def installation_json(self, base: str, installation_id: int) -> dict[str, Any]:
        return {
            "id": installation_id,
            "app_id": int(self.config.app_id),
            "app_slug": self.config.app_slug,
            "target_type": "Organization",
            "access_tokens_url": f"{base}/app/installations/{installation_id}/access_tokens",
        }

    def repo_artifact(self, owner: str, repo: str, artifact_id: int) -> dict[str, Any]:
        artifact = self.artifacts.get(artifact_id)
        if artifact is None or artifact["repository"].lower() != f"{owner}/{repo}".lower():
            raise SandboxApiError(404, "Not Found")
        return artifact

    # --- sandbox side -------------------------------------------------------------------

    def add_sandbox_routes(self, app: FastAPI) -> None:
        tag: list[str | Enum] = ["github sandbox control"]

        @app.get("/sandbox/app", tags=tag)
        async def app_credentials() -> dict[str, Any]:
            public = self.public_key()
            return {
                "app_id": self.config.app_id,
                "client_id": self.config.app_client_id,
                "installation_ids": self.config.installation_ids,
                "public_key_pem": public,
                "private_key_pem": self._private_pem if not self.config.app_public_key else None,
            }

        @app.post("/sandbox/workflows", tags=tag, status_code=201)
        async def add_workflow(workflow: GithubWorkflow) -> dict[str, Any]:
            self.config.workflows = [
                w
                for w in self.config.workflows
                if (w.repo.lower(), w.file) != (workflow.repo.lower(), workflow.file)
            ] + [workflow]
            return {"id": self.workflow_id(workflow), **workflow.model_dump()}

        @app.post("/sandbox/runs/{run_id}/start", tags=tag)
        async def start(run_id: int, request: Request) -> Any:
            run = self.sandbox_run(run_id)
            if run["status"] == "queued":
                self.start(run)
            return self.run_json(system_base_url(request), run)

        @app.post("/sandbox/runs/{run_id}/complete", tags=tag)
        async def complete(run_id: int, body: CompleteBody, request: Request) -> Any:
            run = self.sandbox_run(run_id)
            self.complete(run, body.conclusion, body.artifact, body.artifact_name)
            return self.run_json(system_base_url(request), run)

        @app.post("/ui/runs/{run_id}/complete", include_in_schema=False)
        async def complete_form(run_id: int, request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            run = self.sandbox_run(run_id)
            artifact = None
            if form.get("artifact", "").strip():
                try:
                    artifact = json.loads(form["artifact"])
                except ValueError as exc:
                    raise SandboxApiError(400, f"artifact is not JSON: {exc}") from exc
            self.complete(run, form.get("conclusion", "success"), artifact, None)
            root = request.scope.get("root_path", "")
            return RedirectResponse(f"{root}/{run['repository']}/actions/runs/{run_id}", 303)

        @app.get("/ui", include_in_schema=False)
        async def ui(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            rows = ""
            for run in sorted(self.runs.values(), key=lambda r: r["id"], reverse=True):
                self.advance(run)
                link = f"{root}/{run['repository']}/actions/runs/{run['id']}"
                rows += (
                    f"<tr><td><a href='{esc(link)}'>{run['id']}</a></td>"
                    f"<td>{esc(run['repository'])}</td><td>{esc(run['display_title'])}</td>"
                    f"<td>{esc(run['status'])}</td><td>{esc(run['conclusion'])}</td>"
                    f"<td>{_finish_buttons(root, run)}</td></tr>"
                )
            return page(
                "Sandbox GitHub Actions: workflow runs",
                "<table><tr><th>Run</th><th>Repository</th><th>Title</th><th>Status</th>"
                f"<th>Conclusion</th><th></th></tr>{rows or _NO_ROWS}</table>",
            )

        @app.get("/{owner}/{repo}/actions/runs/{run_id}", include_in_schema=False)
        async def run_page(owner: str, repo: str, run_id: int, request: Request) -> Response:
            run = self.repo_run(owner, repo, run_id)
            self.advance(run)
            root = request.scope.get("root_path", "")
            arts = "".join(
                f"<li>{esc(a['name'])}: <pre>{esc(json.dumps(a['content'], indent=2))}</pre></li>"
                for a in self.artifacts.values()
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
                f"</table><h2>Artifacts</h2><ul>{arts}</ul>{_finish_buttons(root, run, full=True)}",
            )

    def sandbox_run(self, run_id: int) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            raise SandboxApiError(404, f"no run {run_id}")
        self.advance(run)
        return run


_NO_ROWS = "<tr><td>No runs yet.</td></tr>"


def _finish_buttons(root: str, run: dict[str, Any], full: bool = False) -> str:
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

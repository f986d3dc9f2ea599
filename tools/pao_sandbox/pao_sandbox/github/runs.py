"""GitHub sandbox workflow runs: dispatched, queued, in progress and completed as time
passes (or by hand), with the artifacts they upload."""

from __future__ import annotations

import io
import json
import re
import secrets
import time
import zipfile
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pao_sandbox.common import (
    iso_z,
    utcnow,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.github.config import (
    GithubWorkflow,
    render_run_name,
)

if TYPE_CHECKING:
    pass
from pao_sandbox.github.state import GithubState


class GithubRuns(GithubState):
    """Runs and their lifecycle."""

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

    def sandbox_run(self, run_id: int) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            raise SandboxApiError(404, f"no run {run_id}")
        self.advance(run)
        return run

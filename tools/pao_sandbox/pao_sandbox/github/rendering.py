"""How the GitHub sandbox writes things: workflows, runs (as of now), artifacts, run lists
and App installations, as the REST API answers them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request

from pao_sandbox.github.config import (
    GithubWorkflow,
    created_matches,
    parse_when,
)

if TYPE_CHECKING:
    pass
from pao_sandbox.github.runs import GithubRuns


class GithubRendering(GithubRuns):
    """REST API JSON; ``base`` is the URL the sandbox is mounted at."""

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

    def installation_json(self, base: str, installation_id: int) -> dict[str, Any]:
        return {
            "id": installation_id,
            "app_id": int(self.config.app_id),
            "app_slug": self.config.app_slug,
            "target_type": "Organization",
            "access_tokens_url": f"{base}/app/installations/{installation_id}/access_tokens",
        }

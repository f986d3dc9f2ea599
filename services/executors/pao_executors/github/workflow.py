"""Dispatch a workflow, find the run it started, wait for it, read its outputs artifact.

``workflow_dispatch`` answers 204 with no run id, so the executor passes a correlation
id as a workflow input (``correlation_id`` unless the step names another) and finds the
run whose ``display_title`` shows it (the workflow's ``run-name`` must include it, e.g.
``run-name: "Create ${{ inputs.name }} [${{ inputs.correlation_id }}]"``), among the
``workflow_dispatch`` runs of that workflow created since the dispatch.

The correlation id is ``pao-<request>-<step>`` (``-rollback`` for a compensation), the
same for every attempt: before dispatching, an attempt looks for a run of an earlier
attempt (or of an executor that died after dispatching) and follows it if it is still
going, or takes its result if it succeeded, instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pao_catalog_model.action_inputs.github import WorkflowInputs
from pao_common.errors import ActionError
from pao_common.executor import ActionContext

from pao_executors.github.auth import GithubAuth, create_auth
from pao_executors.github.errors import (
    ArtifactError,
    GithubApiError,
    WorkflowRunFailed,
    WorkflowRunNotFound,
)
from pao_executors.github.http import GithubHttp
from pao_executors.github.settings import GithubSettings

log = logging.getLogger("pao.executor.github-workflow")

SUCCEEDED = {"success", "neutral"}
TRANSIENT = {"startup_failure", "stale"}
PROGRESS = {"requested": 15, "waiting": 20, "pending": 20, "queued": 20, "in_progress": 50}
MAX_POLL_ERRORS = 10
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

Kind = Literal["run", "rollback"]


def correlation_id(request_id: str, step_id: str, kind: Kind) -> str:
    suffix = "-rollback" if kind == "rollback" else ""
    return UNSAFE.sub("-", f"pao-{request_id}-{step_id}{suffix}")


def titled(run: dict[str, Any], cid: str) -> bool:
    """Whether ``run`` carries ``cid`` as a whole word of its title."""
    title = str(run.get("display_title") or run.get("name") or "")
    return re.search(rf"(?<![\w-]){re.escape(cid)}(?![\w-])", title) is not None


def github_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkflowRuns:
    """The GitHub Actions side of the executor: one instance per executor process."""

    def __init__(
        self,
        settings: GithubSettings,
        *,
        http: GithubHttp | None = None,
        auth: GithubAuth | None = None,
    ) -> None:
        self.settings = settings
        self.http = http or GithubHttp(settings.api_url, settings.http_timeout_s)
        self.auth = auth or create_auth(settings, self.http)

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- calls ----------------------------------------------------------------------------

    async def call(
        self,
        ctx: ActionContext,
        step: WorkflowInputs,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """An authenticated call; a rejected (401) cached credential is renewed once."""
        for attempt in (1, 2):
            authorization = await self.auth.authorization(ctx, step.owner, step.repo)
            try:
                return await self.http.request(
                    ctx,
                    method,
                    path,
                    authorization=authorization,
                    body=body,
                    params=params,
                    allow=allow,
                )
            except GithubApiError as exc:
                if exc.status != 401 or attempt == 2:
                    raise
                self.auth.invalidate(step.owner, step.repo)
        raise AssertionError("unreachable")

    def _repo(self, step: WorkflowInputs) -> str:
        return f"/repos/{step.owner}/{step.repo}/actions"

    async def list_runs(
        self, ctx: ActionContext, step: WorkflowInputs, created_since: datetime | None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"event": "workflow_dispatch", "per_page": 100}
        if created_since is not None:
            params["created"] = f">={github_time(created_since)}"
        response = await self.call(
            ctx, step, "GET", f"{self._repo(step)}/workflows/{step.workflow}/runs", params=params
        )
        runs: list[dict[str, Any]] = response.json().get("workflow_runs") or []
        return runs

    # --- the step -------------------------------------------------------------------------

    async def run(self, step: WorkflowInputs, ctx: ActionContext, *, kind: Kind) -> dict[str, Any]:
        cid = correlation_id(ctx.request_id, ctx.step_id, kind)
        earlier = await self.list_runs(ctx, step, None)
        run = self._earlier_run(step, earlier, cid)
        if run is not None:
            await ctx.progress(f"following run {run['id']} of an earlier attempt", 10)
        else:
            dispatched_at = await self._dispatch(ctx, step, cid)
            run = await self._find(ctx, step, cid, dispatched_at, {r["id"] for r in earlier})
        meta = {
            "run_id": run["id"],
            "run_number": run.get("run_number"),
            "run_url": run.get("html_url"),
            "api_url": run.get("url"),
            "workflow": step.workflow,
            "repository": f"{step.owner}/{step.repo}",
            "correlation_id": cid,
        }
        run = await self._follow(ctx, step, run, meta)
        conclusion = str(run.get("conclusion"))
        meta["conclusion"] = conclusion
        if conclusion not in SUCCEEDED:
            raise WorkflowRunFailed(
                f"workflow {step.workflow} run {run['id']} in {step.owner}/{step.repo} "
                f"concluded {conclusion}: {run.get('html_url')}",
                retryable=conclusion in TRANSIENT,
                outputs=meta,
            )
        artifact = await self._artifact(ctx, step, run["id"])
        await ctx.progress(f"run {run['id']} succeeded", 100)
        found = artifact if isinstance(artifact, dict) else {}
        return {**found, **meta, "artifact": artifact}

    def _earlier_run(
        self, step: WorkflowInputs, runs: list[dict[str, Any]], cid: str
    ) -> dict[str, Any] | None:
        if step.correlation_input is None:
            return None
        mine = [r for r in runs if titled(r, cid)]
        if not mine:
            return None
        newest = max(mine, key=lambda r: int(r["id"]))
        if newest.get("status") != "completed" or newest.get("conclusion") in SUCCEEDED:
            return newest
        return None  # it failed: this attempt dispatches a new one

    async def _dispatch(self, ctx: ActionContext, step: WorkflowInputs, cid: str) -> datetime:
        inputs: dict[str, Any] = dict(step.inputs)
        if step.correlation_input is not None:
            inputs[step.correlation_input] = cid
        dispatched_at = datetime.now(UTC)
        try:
            await self.call(
                ctx,
                step,
                "POST",
                f"{self._repo(step)}/workflows/{step.workflow}/dispatches",
                body={"ref": step.ref, "inputs": inputs},
            )
        except GithubApiError as exc:
            if exc.status == 422 and step.correlation_input and step.correlation_input in str(exc):
                exc.message = (
                    f"{exc.message}; declare the input {step.correlation_input!r} under "
                    "on.workflow_dispatch.inputs and show it in the workflow's run-name"
                )
                exc.args = (exc.message,)
            raise
        await ctx.progress(f"dispatched {step.workflow} at {step.ref} ({cid})", 10)
        return dispatched_at

    async def _find(
        self,
        ctx: ActionContext,
        step: WorkflowInputs,
        cid: str,
        dispatched_at: datetime,
        seen: set[Any],
    ) -> dict[str, Any]:
        """The run our dispatch started: it can take a few seconds to be listed."""
        since = dispatched_at - timedelta(seconds=self.settings.created_skew_s)
        give_up = time.monotonic() + self.settings.find_run_timeout_s
        delay = min(1.0, self.settings.poll_initial_s)
        while True:
            runs = [r for r in await self.list_runs(ctx, step, since) if r["id"] not in seen]
            if step.correlation_input is not None:
                runs = [r for r in runs if titled(r, cid)]
            if runs:
                run = max(runs, key=lambda r: int(r["id"]))
                await ctx.progress(f"run {run['id']}: {run.get('html_url')}", 15)
                return run
            if time.monotonic() + delay > give_up or ctx.remaining_s() <= delay + 1:
                raise WorkflowRunNotFound(
                    f"no run of {step.workflow} showing {cid} appeared within "
                    f"{self.settings.find_run_timeout_s:g}s of the dispatch; does the "
                    f"workflow's run-name show inputs.{step.correlation_input}?",
                    retryable=True,
                    outputs={"correlation_id": cid},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.poll_max_s)

    async def _follow(
        self, ctx: ActionContext, step: WorkflowInputs, run: dict[str, Any], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Poll the run until it completes, reporting each status change."""
        delay = self.settings.poll_initial_s
        last = ""
        errors = 0
        path = f"{self._repo(step)}/runs/{run['id']}"
        while True:
            status = str(run.get("status"))
            if status != last:
                last = status
                await ctx.progress(f"run {run['id']}: {status}", PROGRESS.get(status))
            if status == "completed":
                return run
            if ctx.remaining_s() <= delay + 1:
                raise ActionError(
                    f"workflow run {run['id']} did not complete within the step's timeout "
                    f"(status {status}); another attempt follows the same run",
                    retryable=True,
                    outputs=meta,
                )
            await asyncio.sleep(delay)
            try:
                run = (await self.call(ctx, step, "GET", path)).json()
                errors = 0
                delay = min(delay * 1.5, self.settings.poll_max_s)
            except ActionError as exc:
                errors += 1
                if not exc.retryable or errors >= MAX_POLL_ERRORS:
                    exc.outputs = {**meta, **exc.outputs}
                    raise
                log.warning("polling run %s failed (%s); polling on", run["id"], exc.message)
                delay = min(delay * 2, self.settings.poll_max_s)

    async def _artifact(self, ctx: ActionContext, step: WorkflowInputs, run_id: int) -> Any:
        """The JSON in ``artifact_file`` of the run's artifact ``artifact``; None if absent."""
        if not step.artifact:
            return None
        response = await self.call(
            ctx,
            step,
            "GET",
            f"{self._repo(step)}/runs/{run_id}/artifacts",
            params={"name": step.artifact, "per_page": 100},
        )
        found = [
            a
            for a in response.json().get("artifacts") or []
            if a.get("name") == step.artifact and not a.get("expired")
        ]
        if not found:
            if step.artifact_required:
                raise ArtifactError(f"run {run_id} uploaded no artifact named {step.artifact!r}")
            return None
        artifact = max(found, key=lambda a: int(a["id"]))
        if int(artifact.get("size_in_bytes") or 0) > self.settings.artifact_max_bytes:
            raise ArtifactError(f"artifact {step.artifact!r} of run {run_id} is too big")
        archive = await self._download(ctx, step, str(artifact["archive_download_url"]))
        return self._read_json(archive, step, run_id)

    async def _download(self, ctx: ActionContext, step: WorkflowInputs, url: str) -> bytes:
        # GitHub answers 302 to short-lived storage on another host: fetch that without
        # our Authorization header.
        response = await self.call(ctx, step, "GET", url, allow=(302,))
        if response.status_code == 302:
            location = response.headers["location"]
            response = await self.http.request(ctx, "GET", location, authorization=None)
        if len(response.content) > self.settings.artifact_max_bytes:
            raise ArtifactError(f"artifact {step.artifact!r} is too big")
        return response.content

    def _read_json(self, archive: bytes, step: WorkflowInputs, run_id: int) -> Any:
        try:
            with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
                names = bundle.namelist()
                if step.artifact_file not in names:
                    raise ArtifactError(
                        f"artifact {step.artifact!r} of run {run_id} has no "
                        f"{step.artifact_file!r} (it has {names[:10]})"
                    )
                info = bundle.getinfo(step.artifact_file)
                if info.file_size > self.settings.artifact_max_bytes:
                    raise ArtifactError(f"{step.artifact_file!r} in {step.artifact!r} is too big")
                return json.loads(bundle.read(step.artifact_file))
        except zipfile.BadZipFile as exc:
            raise ArtifactError(f"artifact {step.artifact!r} is not a zip: {exc}") from exc
        except ValueError as exc:
            raise ArtifactError(
                f"{step.artifact_file!r} in artifact {step.artifact!r} is not JSON: {exc}"
            ) from exc

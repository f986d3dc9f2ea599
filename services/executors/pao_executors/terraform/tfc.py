"""Terraform Cloud / Enterprise (API v2, JSON:API) as a ``TerraformBackend``.

One step: find the workspace by name, create or update its variables (sensitive ones
stay write-only), queue a run, follow it (confirming the apply when the workspace does
not auto-apply), then read the current state version's outputs. Every call goes through
the circuit breaker of the TFC host; while a run is being followed, a failed poll is
retried with backoff instead of failing the step (the run goes on in TFC either way).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pao_catalog_model.action_inputs.terraform import TerraformInputs
from pao_common.errors import ActionError
from pao_common.executor import ActionContext
from pao_common.executor.secrets import references

from pao_executors.terraform.errors import (
    TerraformApiError,
    TerraformNotConfigured,
    TerraformRunFailed,
)
from pao_executors.terraform.outputs import step_outputs
from pao_executors.terraform.settings import TerraformSettings

log = logging.getLogger("pao.executor.terraform")

JSONAPI = "application/vnd.api+json"
SUCCEEDED = {"applied", "planned_and_finished"}
FAILED = {"errored", "discarded", "canceled", "force_canceled", "policy_soft_failed"}
PROGRESS = {
    "pending": 5,
    "fetching": 8,
    "queuing": 10,
    "plan_queued": 10,
    "planning": 25,
    "planned": 50,
    "cost_estimated": 55,
    "policy_checked": 58,
    "confirmed": 60,
    "apply_queued": 65,
    "applying": 75,
    "applied": 100,
    "planned_and_finished": 100,
}
# Tags a run so another attempt of the same step can find it.
RUN_MARKER = "[pao {request}/{step}/{kind}]"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_POLL_ERRORS = 10


def run_marker(request_id: str, step_id: str, destroy: bool) -> str:
    """Tags a run so another attempt of the same step can find it."""
    kind = "destroy" if destroy else "apply"
    return RUN_MARKER.format(request=request_id, step=step_id, kind=kind)


class TfcClient:
    """The TFC API calls the executor makes, each behind the host's circuit breaker."""

    def __init__(self, settings: TerraformSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.base = settings.tfc_url.rstrip("/")
        self.api = f"{self.base}/api/v2"
        self.host = urlsplit(self.base).netloc or self.base
        self._http = http or httpx.AsyncClient(timeout=settings.terraform_http_timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, ctx: ActionContext) -> dict[str, str]:
        token = self.settings.tfc_token
        if token is None:
            raise TerraformNotConfigured("Terraform Cloud mode needs PAO_TFC_TOKEN")
        value = token.get_secret_value()
        ctx.secrets.redactor.add(value)
        return {"Authorization": f"Bearer {value}", "Content-Type": JSONAPI, "Accept": JSONAPI}

    async def call(
        self,
        ctx: ActionContext,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One API call; an error status becomes a ``TerraformApiError`` unless in ``allow``."""
        url = path if path.startswith("http") else f"{self.api}{path}"
        headers = self._headers(ctx)
        async with ctx.circuit(self.host):
            try:
                response = await self._http.request(
                    method, url, headers=headers, json=body, params=params
                )
            except httpx.TransportError as exc:
                raise TerraformApiError(
                    f"Terraform Cloud at {self.host} is unreachable: {type(exc).__name__}: {exc}",
                    retryable=True,
                ) from exc
            if response.status_code >= 400 and response.status_code not in allow:
                raise _api_error(method, path, response)
        return response

    # --- the calls ----------------------------------------------------------------------

    async def workspace(self, ctx: ActionContext, organization: str, name: str) -> dict[str, Any]:
        path = f"/organizations/{quote(organization, safe='')}/workspaces/{quote(name, safe='')}"
        response = await self.call(ctx, "GET", path, allow=(404,))
        if response.status_code == 404:
            raise TerraformApiError(
                f"workspace {organization}/{name} does not exist in Terraform Cloud "
                "(or the token cannot read it)",
                status=404,
            )
        data: dict[str, Any] = response.json()["data"]
        return data

    async def variables(self, ctx: ActionContext, workspace_id: str) -> list[dict[str, Any]]:
        response = await self.call(ctx, "GET", f"/workspaces/{workspace_id}/vars")
        found: list[dict[str, Any]] = response.json()["data"]
        return found

    async def set_variable(
        self, ctx: ActionContext, workspace_id: str, existing: dict[str, Any] | None, var: Var
    ) -> str:
        """Create or update one variable; ``created``, ``updated`` or ``unchanged``."""
        attributes = var.attributes()
        if existing is not None:
            current = existing["attributes"]
            same = all(current.get(k) == v for k, v in attributes.items() if k != "value")
            if same and not var.sensitive and current.get("value") == var.value:
                return "unchanged"
            body = {"data": {"type": "vars", "id": existing["id"], "attributes": attributes}}
            await self.call(
                ctx, "PATCH", f"/workspaces/{workspace_id}/vars/{existing['id']}", body=body
            )
            return "updated"
        body = {"data": {"type": "vars", "attributes": attributes}}
        await self.call(ctx, "POST", f"/workspaces/{workspace_id}/vars", body=body)
        return "created"

    async def create_run(
        self, ctx: ActionContext, workspace_id: str, message: str, destroy: bool
    ) -> dict[str, Any]:
        body = {
            "data": {
                "type": "runs",
                "attributes": {"message": message, "is-destroy": destroy},
                "relationships": {
                    "workspace": {"data": {"type": "workspaces", "id": workspace_id}}
                },
            }
        }
        data: dict[str, Any] = (await self.call(ctx, "POST", "/runs", body=body)).json()["data"]
        return data

    async def run(self, ctx: ActionContext, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self.call(ctx, "GET", f"/runs/{run_id}")).json()["data"]
        return data

    async def confirm(self, ctx: ActionContext, run_id: str) -> bool:
        """Confirm the apply; False if it was no longer confirmable (someone else did)."""
        body = {"comment": f"confirmed by PAO for request {ctx.request_id}"}
        response = await self.call(
            ctx, "POST", f"/runs/{run_id}/actions/apply", body=body, allow=(409,)
        )
        return response.status_code != 409

    async def failure_log(self, ctx: ActionContext, run: dict[str, Any]) -> str:
        """The last lines of the log of the phase that errored (best effort)."""
        for phase, kind in (("apply", "applies"), ("plan", "plans")):
            ref = ((run.get("relationships") or {}).get(phase) or {}).get("data") or {}
            if not ref.get("id"):
                continue
            try:
                response = await self.call(ctx, "GET", f"/{kind}/{ref['id']}")
                attributes = response.json()["data"]["attributes"]
                if attributes.get("status") not in ("errored", "canceled"):
                    continue
                url = attributes.get("log-read-url")
                if not url:
                    continue
                async with ctx.circuit(self.host):
                    text = (await self._http.get(url)).text
            except (ActionError, httpx.HTTPError, ValueError, KeyError) as exc:
                log.info("could not read the %s log of %s: %r", phase, run["id"], exc)
                continue
            lines = [ANSI.sub("", line).rstrip() for line in text.splitlines() if line.strip()]
            return f"{phase}: " + " | ".join(lines[-8:])
        return ""

    async def outputs(self, ctx: ActionContext, workspace_id: str) -> list[dict[str, Any]]:
        """The current state version's outputs (sensitive values are ``None``)."""
        response = await self.call(
            ctx,
            "GET",
            f"/workspaces/{workspace_id}/current-state-version-outputs",
            params={"page[size]": "100"},
            allow=(404,),
        )
        if response.status_code == 404:
            return []
        return [item["attributes"] for item in response.json()["data"]]


class Var:
    """A variable as the step wants it in the workspace."""

    def __init__(self, key: str, value: Any, category: str, sensitive: bool) -> None:
        self.key = key
        self.category = category
        self.sensitive = sensitive
        # Strings are literal values; anything else is written as HCL (JSON is valid HCL).
        self.hcl = category == "terraform" and not isinstance(value, str)
        if isinstance(value, str):
            self.value = value
        elif isinstance(value, bool):
            self.value = "true" if value else "false"
        else:
            self.value = json.dumps(value)

    def attributes(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "category": self.category,
            "hcl": self.hcl,
            "sensitive": self.sensitive,
        }


def wanted_variables(inputs: TerraformInputs, raw_inputs: dict[str, Any]) -> list[Var]:
    """The variables to set; those that came from ``secret()`` (or are listed) are sensitive."""
    raw_vars = raw_inputs.get("variables") or {}
    raw_env = raw_inputs.get("env_variables") or {}
    listed = set(inputs.sensitive)
    found = [
        Var(key, value, "terraform", key in listed or bool(references(raw_vars.get(key))))
        for key, value in inputs.variables.items()
    ]
    found += [
        Var(key, value, "env", key in listed or bool(references(raw_env.get(key))))
        for key, value in inputs.env_variables.items()
    ]
    return found


class TfcBackend:
    """Runs a step's plan and apply (or destroy) in a Terraform Cloud workspace."""

    mode = "tfc"

    def __init__(self, settings: TerraformSettings, client: TfcClient | None = None) -> None:
        self.settings = settings
        self.client = client or TfcClient(settings)

    async def aclose(self) -> None:
        await self.client.aclose()

    def _organization(self, inputs: TerraformInputs) -> str:
        organization = inputs.organization or self.settings.tfc_organization
        if not organization:
            raise TerraformNotConfigured(
                "no Terraform Cloud organization: set PAO_TFC_ORGANIZATION or the step's "
                "'organization' input"
            )
        return organization

    def run_url(self, organization: str, workspace: str, run_id: str) -> str:
        return f"{self.client.base}/app/{organization}/workspaces/{workspace}/runs/{run_id}"

    async def run(
        self, inputs: TerraformInputs, ctx: ActionContext, *, destroy: bool
    ) -> dict[str, Any]:
        organization = self._organization(inputs)
        client = self.client
        workspace = await client.workspace(ctx, organization, inputs.workspace)
        ws_id = workspace["id"]
        if not destroy or inputs.variables or inputs.env_variables:
            await self._sync_variables(ctx, ws_id, inputs)
        marker = run_marker(ctx.request_id, ctx.step_id, destroy)
        run = await self._resumable_run(ctx, workspace, marker)
        if run is None:
            kind = "destroy" if destroy else "apply"
            message = f"{inputs.message or f'PAO {kind}'} {marker}"
            run = await client.create_run(ctx, ws_id, message, destroy)
            await ctx.progress(f"queued {kind} run {run['id']} in {inputs.workspace}", 5)
        else:
            await ctx.progress(f"following run {run['id']} of an earlier attempt", 5)
        run_id = run["id"]
        meta = {
            "mode": self.mode,
            "workspace": inputs.workspace,
            "workspace_id": ws_id,
            "organization": organization,
            "run_id": run_id,
            "run_url": self.run_url(organization, inputs.workspace, run_id),
            "destroy": destroy,
        }
        try:
            final = await self._follow(ctx, run_id, inputs.confirm, meta)
        except TerraformRunFailed as failure:
            if destroy or not inputs.destroy_on_error or final_status(failure) != "errored":
                raise
            cleanup = await self._destroy_after_error(ctx, inputs, ws_id, meta)
            raise TerraformRunFailed(
                f"{failure.message}; destroy run {cleanup['run_id']} {cleanup['status']}",
                outputs={**failure.outputs, "cleanup": cleanup},
            ) from failure
        outputs = await client.outputs(ctx, ws_id)
        return step_outputs({**meta, "status": final}, outputs)

    async def _sync_variables(
        self, ctx: ActionContext, ws_id: str, inputs: TerraformInputs
    ) -> None:
        wanted = wanted_variables(inputs, dict(ctx.command.inputs))
        if not wanted:
            return
        existing = {
            (v["attributes"]["key"], v["attributes"]["category"]): v
            for v in await self.client.variables(ctx, ws_id)
        }
        counts: dict[str, int] = {}
        for var in wanted:
            what = await self.client.set_variable(
                ctx, ws_id, existing.get((var.key, var.category)), var
            )
            counts[what] = counts.get(what, 0) + 1
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        await ctx.progress(f"variables of {inputs.workspace}: {summary}", 3)

    async def _resumable_run(
        self, ctx: ActionContext, workspace: dict[str, Any], marker: str
    ) -> dict[str, Any] | None:
        """The workspace's current run if an earlier attempt of this step queued it and it
        has not finished: following it beats queueing a second one behind it."""
        if ctx.attempt <= 1:
            return None
        ref = ((workspace.get("relationships") or {}).get("current-run") or {}).get("data")
        if not ref:
            return None
        run = await self.client.run(ctx, ref["id"])
        attributes = run["attributes"]
        finished = attributes["status"] in SUCCEEDED | FAILED
        if marker in (attributes.get("message") or "") and not finished:
            return run
        return None

    async def _follow(
        self, ctx: ActionContext, run_id: str, confirm: bool, meta: dict[str, Any]
    ) -> str:
        """Poll the run to its end; its final status, or ``TerraformRunFailed``."""
        delay = self.settings.terraform_poll_initial_s
        last = ""
        confirmed = False
        errors = 0
        while True:
            try:
                run = await self.client.run(ctx, run_id)
                errors = 0
            except ActionError as exc:
                errors += 1
                if not exc.retryable or errors >= MAX_POLL_ERRORS:
                    exc.outputs = {**meta, **exc.outputs}
                    raise
                log.warning("polling run %s failed (%s); polling on", run_id, exc.message)
                await self._sleep(ctx, delay, meta)
                delay = min(delay * 2, self.settings.terraform_poll_max_s)
                continue
            attributes = run["attributes"]
            status: str = attributes["status"]
            if status != last:
                last = status
                await ctx.progress(f"run {run_id}: {status}", PROGRESS.get(status))
                delay = self.settings.terraform_poll_initial_s
            if status in SUCCEEDED:
                return status
            if status in FAILED:
                detail = await self.client.failure_log(ctx, run) if status == "errored" else ""
                message = f"Terraform run {run_id} in {meta['workspace']} ended {status}"
                raise TerraformRunFailed(
                    f"{message}: {detail}" if detail else message,
                    outputs={**meta, "status": status},
                )
            actions = attributes.get("actions") or {}
            if confirm and not confirmed and actions.get("is-confirmable"):
                confirmed = True
                if await self.client.confirm(ctx, run_id):
                    await ctx.progress(f"run {run_id}: apply confirmed", 58)
                continue
            await self._sleep(ctx, delay, meta)
            delay = min(delay * 1.5, self.settings.terraform_poll_max_s)

    async def _sleep(self, ctx: ActionContext, delay: float, meta: dict[str, Any]) -> None:
        """Sleep before the next poll, or fail (retryable) when the step's time is up."""
        if ctx.remaining_s() <= delay + 1:
            raise ActionError(
                f"Terraform run {meta['run_id']} did not finish within the step's timeout; "
                "another attempt follows the same run",
                retryable=True,
                outputs=meta,
            )
        await asyncio.sleep(delay)

    async def _destroy_after_error(
        self, ctx: ActionContext, inputs: TerraformInputs, ws_id: str, meta: dict[str, Any]
    ) -> dict[str, Any]:
        marker = run_marker(ctx.request_id, ctx.step_id, True)
        run = await self.client.create_run(
            ctx, ws_id, f"PAO cleanup after a failed apply {marker}", True
        )
        await ctx.progress(f"apply failed: destroy run {run['id']} queued", 80)
        cleanup = {"run_id": run["id"], "status": "queued"}
        try:
            cleanup["status"] = await self._follow(
                ctx, run["id"], True, {**meta, "run_id": run["id"]}
            )
        except TerraformRunFailed as exc:
            cleanup["status"] = str(exc.outputs.get("status", "failed"))
        return cleanup


def final_status(failure: TerraformRunFailed) -> str:
    return str(failure.outputs.get("status", ""))


def _api_error(method: str, path: str, response: httpx.Response) -> TerraformApiError:
    status = response.status_code
    try:
        errors = response.json().get("errors") or []
        detail = "; ".join(
            " ".join(
                str(part)
                for part in (
                    (e.get("source") or {}).get("pointer", "").rsplit("/", 1)[-1],
                    e.get("detail") or e.get("title") or "",
                )
                if part
            )
            for e in errors
            if isinstance(e, dict)
        )
    except ValueError:
        detail = response.text[:200]
    retryable = status == 429 or status >= 500
    return TerraformApiError(
        f"Terraform Cloud {method} {path}: {status} {detail or response.reason_phrase}",
        status=status,
        retryable=retryable,
    )

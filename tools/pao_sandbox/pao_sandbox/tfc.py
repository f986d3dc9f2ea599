"""Terraform Cloud / Enterprise sandbox: the API v2 (JSON:API) an executor drives.

Mounted at ``/tfc``: the host root (what ``https://app.terraform.io`` is), so paths are
``http://HOST:PORT/tfc/api/v2/...``.  Answers are ``application/vnd.api+json``.

Real API (all under ``/api/v2``)::

    GET|POST  /organizations/{org}/workspaces          POST 201
    GET|PATCH /organizations/{org}/workspaces/{name}
    GET|PATCH /workspaces/{workspace_id}
    GET|POST  /workspaces/{workspace_id}/vars          POST 201; 422 on blank/duplicate key
    PATCH|DELETE /workspaces/{workspace_id}/vars/{var_id}
    POST /runs                                         201; attributes is-destroy, auto-apply,
                                                       message; relationships.workspace
    GET  /runs/{run_id}                                status, relationships plan / apply
    GET  /workspaces/{workspace_id}/runs
    POST /runs/{run_id}/actions/apply|discard|cancel   202; 409 when not allowed now
    GET  /plans/{id}, /applies/{id}                    status, log-read-url
    GET  /workspaces/{workspace_id}/current-state-version[?include=outputs]   404 before any
    GET  /workspaces/{workspace_id}/current-state-version-outputs   sensitive values null
    GET  /state-versions/{id}/outputs, /state-version-outputs/{id}

Auth: ``Authorization: Bearer <token>`` (one of ``tokens``), else 401.

A run moves pending -> planning -> planned (waits for ``actions/apply`` unless
auto-apply) -> applying -> applied | errored, each phase lasting ``phase_s`` seconds
(0: as fast as it is read). An applied run writes a state version whose outputs are
the workspace's ``outputs`` config, or else its Terraform variables (sensitive stay
sensitive) plus ``workspace`` and ``run_id``, plus what the workspace's module would
output when ``tfc_modules`` recognises it by its variables (a PostgreSQL database's
``endpoint``, ``secret_path``, ...); a destroy run leaves an empty state.
Sandbox side: ``POST /sandbox/faults/apply-error {"workspace": name|null, "times": n}``
makes the next applies error; ``GET /ui`` lists workspaces and runs.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from pao_sandbox.common import (
    SandboxSystem,
    esc,
    json_body,
    page,
    random_id,
    system_base_url,
    utcnow,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.tfc_modules import module_outputs, variable_value

JSONAPI = "application/vnd.api+json"
V2 = "/api/v2"  # the API below the host root
FINAL = {"applied", "errored", "discarded", "canceled", "planned_and_finished"}


class TfcWorkspace(BaseModel):
    organization: str = "pao"
    name: str
    auto_apply: bool = False
    outputs: dict[str, Any] | None = Field(None, description="Outputs after apply; None: from vars")


class TfcConfig(BaseModel):
    tokens: list[str] = Field(default_factory=lambda: ["sandbox-tfc-token"])
    organizations: list[str] = Field(default_factory=lambda: ["pao"])
    auto_organizations: bool = Field(True, description="Any organization name exists")
    workspaces: list[TfcWorkspace] = Field(default_factory=list)
    auto_workspaces: bool = Field(True, description="GET of an unknown workspace creates it")
    phase_s: float = Field(1.0, ge=0, description="How long each run phase lasts")


class ApplyErrorBody(BaseModel):
    workspace: str | None = Field(None, description="Workspace name; None: any")
    times: int = Field(1, ge=1)
    message: str = "Error: creating resource: sandbox injected apply failure"


def tfc_time() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class TfcSandbox(SandboxSystem[TfcConfig]):
    name: ClassVar[str] = "tfc"
    title: ClassVar[str] = "Terraform Cloud"
    config_model: ClassVar[type[BaseModel]] = TfcConfig

    def reset_state(self) -> None:
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.vars: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.state_versions: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.apply_errors: list[dict[str, Any]] = []
        self._seeded = False

    def seed(self) -> None:
        if self._seeded:
            return
        self._seeded = True
        for ws in self.config.workspaces:
            if self.find_workspace(ws.organization, ws.name, create=False) is None:
                self.create_workspace(ws.organization, ws.name, {"auto-apply": ws.auto_apply})

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

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        titles = {
            400: "bad request",
            401: "unauthorized",
            404: "not found",
            409: "conflict",
            422: "invalid attribute",
            500: "internal server error",
        }
        title = titles.get(status, "error")
        if fields:
            return {
                "errors": [
                    {
                        "status": str(status),
                        "title": title,
                        "detail": detail,
                        "source": {"pointer": f"/data/attributes/{field}"},
                    }
                    for field, detail in fields.items()
                ]
            }
        error: dict[str, Any] = {"status": str(status), "title": title}
        if message:
            error["detail"] = message
        return {"errors": [error]}

    def authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.config.tokens:
            raise SandboxApiError(401)

    # --- workspaces ---------------------------------------------------------------------

    def ws_config(self, org: str, name: str) -> TfcWorkspace | None:
        return next(
            (w for w in self.config.workspaces if (w.organization, w.name) == (org, name)), None
        )

    def check_org(self, org: str) -> None:
        if org not in self.config.organizations and not self.config.auto_organizations:
            raise SandboxApiError(404)

    def find_workspace(self, org: str, name: str, *, create: bool) -> dict[str, Any] | None:
        for ws in self.workspaces.values():
            if ws["organization"] == org and ws["attributes"]["name"] == name:
                return ws
        if create and self.config.auto_workspaces:
            return self.create_workspace(org, name, {})
        return None

    def create_workspace(self, org: str, name: str, attributes: dict[str, Any]) -> dict[str, Any]:
        ws_id = "ws-" + random_id()
        now = tfc_time()
        ws = {
            "id": ws_id,
            "organization": org,
            "attributes": {
                "name": name,
                "auto-apply": bool(attributes.get("auto-apply", False)),
                "description": attributes.get("description"),
                "execution-mode": attributes.get("execution-mode", "remote"),
                "terraform-version": attributes.get("terraform-version", "1.9.8"),
                "working-directory": attributes.get("working-directory", ""),
                "locked": False,
                "resource-count": 0,
                "created-at": now,
                "updated-at": now,
            },
            "current_run": None,
            "current_state_version": None,
        }
        self.workspaces[ws_id] = ws
        return ws

    def workspace(self, ws_id: str) -> dict[str, Any]:
        self.seed()
        if ws_id not in self.workspaces:
            raise SandboxApiError(404)
        return self.workspaces[ws_id]

    def workspace_json(self, ws: dict[str, Any]) -> dict[str, Any]:
        current_run = ws["current_run"]
        sv = ws["current_state_version"]
        return {
            "id": ws["id"],
            "type": "workspaces",
            "attributes": {
                **ws["attributes"],
                "permissions": {
                    "can-queue-run": True,
                    "can-queue-apply": True,
                    "can-read-state-outputs": True,
                    "can-update-variable": True,
                },
            },
            "relationships": {
                "organization": {"data": {"id": ws["organization"], "type": "organizations"}},
                "current-run": {
                    "data": {"id": current_run, "type": "runs"} if current_run else None
                },
                "current-state-version": {
                    "data": {"id": sv, "type": "state-versions"} if sv else None
                },
            },
            "links": {
                "self": f"/api/v2/organizations/{ws['organization']}/workspaces/"
                f"{ws['attributes']['name']}"
            },
        }

    def update_workspace(self, ws: dict[str, Any], body: Any) -> None:
        attributes = _data(body).get("attributes") or {}
        allowed = {
            "name",
            "auto-apply",
            "description",
            "execution-mode",
            "terraform-version",
            "working-directory",
        }
        for key, value in attributes.items():
            if key in allowed:
                ws["attributes"][key] = value
        ws["attributes"]["updated-at"] = tfc_time()

    # --- variables ----------------------------------------------------------------------

    def var_json(self, var: dict[str, Any]) -> dict[str, Any]:
        attributes = {k: v for k, v in var["attributes"].items()}
        if attributes["sensitive"]:
            attributes["value"] = None
        return {
            "id": var["id"],
            "type": "vars",
            "attributes": attributes,
            "relationships": {
                "configurable": {"data": {"id": var["workspace"], "type": "workspaces"}}
            },
            "links": {"self": f"/api/v2/workspaces/{var['workspace']}/vars/{var['id']}"},
        }

    def check_var(self, ws_id: str, attributes: dict[str, Any], var_id: str | None) -> None:
        errors: dict[str, str] = {}
        key = attributes.get("key")
        if not isinstance(key, str) or not key.strip():
            errors["key"] = "Key can't be blank"
        if attributes.get("category") not in ("terraform", "env"):
            errors["category"] = "Category is not included in the list"
        duplicate = any(
            v["workspace"] == ws_id
            and v["id"] != var_id
            and v["attributes"]["key"] == key
            and v["attributes"]["category"] == attributes.get("category")
            for v in self.vars.values()
        )
        if duplicate:
            errors["key"] = "Key has already been taken"
        if errors:
            raise SandboxApiError(422, fields=errors)

    # --- runs ---------------------------------------------------------------------------

    def create_run(self, body: Any) -> dict[str, Any]:
        data = _data(body)
        if data.get("type") != "runs":
            raise SandboxApiError(422, fields={"type": "must be 'runs'"})
        ws_ref = ((data.get("relationships") or {}).get("workspace") or {}).get("data") or {}
        ws = self.workspace(str(ws_ref.get("id", "")))
        attributes = data.get("attributes") or {}
        auto_apply = attributes.get("auto-apply")
        run_id = "run-" + random_id()
        run = {
            "id": run_id,
            "workspace": ws["id"],
            "status": "pending",
            "is-destroy": bool(attributes.get("is-destroy", False)),
            "auto-apply": ws["attributes"]["auto-apply"]
            if auto_apply is None
            else bool(auto_apply),
            "message": attributes.get("message")
            or "Queued manually via the Terraform Enterprise API",
            "plan-only": bool(attributes.get("plan-only", False)),
            "created-at": tfc_time(),
            "status-timestamps": {"pending-at": tfc_time()},
            "plan": "plan-" + random_id(),
            "apply": "apply-" + random_id(),
            "plan_status": "pending",
            "apply_status": "pending",
            "error": None,
            "_phase_at": time.monotonic(),
        }
        self.runs[run_id] = run
        ws["current_run"] = run_id
        return run

    def set_status(self, run: dict[str, Any], status: str, at: float | None = None) -> None:
        run["status"] = status
        run["status-timestamps"][f"{status.replace('_', '-')}-at"] = tfc_time()
        run["_phase_at"] = at if at is not None else time.monotonic()

    def advance(self, run: dict[str, Any]) -> None:
        """Walk the run through its phases as the clock allows."""
        step = self.config.phase_s
        while run["status"] not in FINAL:
            due = run["_phase_at"] + step
            if time.monotonic() < due and step > 0:
                return
            status = run["status"]
            if status == "pending":
                self.set_status(run, "planning", due)
                run["plan_status"] = "running"
            elif status == "planning":
                run["plan_status"] = "finished"
                if run["plan-only"]:
                    self.set_status(run, "planned_and_finished", due)
                elif run["auto-apply"]:
                    self.set_status(run, "planned", due)
                    self.set_status(run, "confirmed", due)
                else:
                    self.set_status(run, "planned", due)
            elif status == "confirmed":
                self.set_status(run, "applying", due)
                run["apply_status"] = "running"
            elif status == "applying":
                self.finish_apply(run, due)
            else:  # planned: waits for actions/apply
                return

    def finish_apply(self, run: dict[str, Any], at: float) -> None:
        ws = self.workspaces[run["workspace"]]
        name = ws["attributes"]["name"]
        fault = next((f for f in self.apply_errors if f["workspace"] in (None, name)), None)
        if fault is not None:
            fault["times"] -= 1
            if fault["times"] <= 0:
                self.apply_errors.remove(fault)
            run["apply_status"] = "errored"
            run["error"] = fault["message"]
            self.set_status(run, "errored", at)
            return
        run["apply_status"] = "finished"
        self.write_state(ws, run)
        self.set_status(run, "applied", at)

    def write_state(self, ws: dict[str, Any], run: dict[str, Any]) -> None:
        values: dict[str, tuple[Any, bool]] = {}
        if not run["is-destroy"]:
            config = self.ws_config(ws["organization"], ws["attributes"]["name"])
            if config is not None and config.outputs is not None:
                values = {k: (v, False) for k, v in config.outputs.items()}
            else:
                for var in self.vars.values():
                    a = var["attributes"]
                    if var["workspace"] == ws["id"] and a["category"] == "terraform":
                        values[a["key"]] = (a["value"], a["sensitive"])
                values["workspace"] = (ws["attributes"]["name"], False)
                values["run_id"] = (run["id"], False)
                decoded = {
                    var["attributes"]["key"]: variable_value(var["attributes"])
                    for var in self.vars.values()
                    if var["workspace"] == ws["id"] and var["attributes"]["category"] == "terraform"
                }
                derived = module_outputs(ws["organization"], ws["attributes"]["name"], decoded)
                values.update({k: (v, False) for k, v in derived.items()})
        sv_id = "sv-" + random_id()
        previous = self.state_versions.get(ws["current_state_version"] or "")
        output_ids = []
        for key, (value, sensitive) in values.items():
            out_id = "wsout-" + random_id()
            kind = _tf_type(value)
            self.outputs[out_id] = {
                "id": out_id,
                "state_version": sv_id,
                "name": key,
                "sensitive": sensitive,
                "type": kind,
                "value": value,
            }
            output_ids.append(out_id)
        self.state_versions[sv_id] = {
            "id": sv_id,
            "workspace": ws["id"],
            "run": run["id"],
            "serial": (previous["serial"] + 1) if previous else 1,
            "created-at": tfc_time(),
            "outputs": output_ids,
        }
        ws["current_state_version"] = sv_id
        ws["attributes"]["resource-count"] = 0 if run["is-destroy"] else max(1, len(values) - 2)

    def run_json(self, base: str, run: dict[str, Any]) -> dict[str, Any]:
        self.advance(run)
        status = run["status"]
        return {
            "id": run["id"],
            "type": "runs",
            "attributes": {
                "status": status,
                "message": run["message"],
                "is-destroy": run["is-destroy"],
                "auto-apply": run["auto-apply"],
                "plan-only": run["plan-only"],
                "source": "tfe-api",
                "trigger-reason": "manual",
                "created-at": run["created-at"],
                "status-timestamps": run["status-timestamps"],
                "has-changes": run["plan_status"] == "finished" or None,
                "actions": {
                    "is-confirmable": status == "planned",
                    "is-discardable": status == "planned",
                    "is-cancelable": status in ("pending", "planning", "applying"),
                    "is-force-cancelable": False,
                },
                "permissions": {"can-apply": True, "can-cancel": True, "can-discard": True},
            },
            "relationships": {
                "workspace": {"data": {"id": run["workspace"], "type": "workspaces"}},
                "plan": {"data": {"id": run["plan"], "type": "plans"}},
                "apply": {"data": {"id": run["apply"], "type": "applies"}},
            },
            "links": {"self": f"/api/v2/runs/{run['id']}"},
        }

    def run(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.runs:
            raise SandboxApiError(404)
        run = self.runs[run_id]
        self.advance(run)
        return run

    def phase_json(self, base: str, run: dict[str, Any], kind: str) -> dict[str, Any]:
        self.advance(run)
        status = run[f"{kind}_status"]
        phase_id = run[kind]
        adds = 0 if run["is-destroy"] else 1
        return {
            "id": phase_id,
            "type": "plans" if kind == "plan" else "applies",
            "attributes": {
                "status": status,
                "resource-additions": adds,
                "resource-changes": 0,
                "resource-destructions": 1 - adds,
                "log-read-url": f"{base}/_archivist/{phase_id}",
            },
            "links": {"self": f"/api/v2/{'plans' if kind == 'plan' else 'applies'}/{phase_id}"},
        }

    def output_json(self, output: dict[str, Any], reveal: bool) -> dict[str, Any]:
        hidden = output["sensitive"] and not reveal
        return {
            "id": output["id"],
            "type": "state-version-outputs",
            "attributes": {
                "name": output["name"],
                "sensitive": output["sensitive"],
                "type": output["type"],
                "value": None if hidden else output["value"],
                "detailed-type": output["type"],
            },
            "links": {"self": f"/api/v2/state-version-outputs/{output['id']}"},
        }

    def state_version_json(self, base: str, sv: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": sv["id"],
            "type": "state-versions",
            "attributes": {
                "serial": sv["serial"],
                "created-at": sv["created-at"],
                "resources-processed": True,
                "status": "finalized",
                "hosted-state-download-url": f"{base}/_archivist/{sv['id']}",
            },
            "relationships": {
                "run": {"data": {"id": sv["run"], "type": "runs"}},
                "workspace": {"data": {"id": sv["workspace"], "type": "workspaces"}},
                "outputs": {
                    "data": [{"id": o, "type": "state-version-outputs"} for o in sv["outputs"]]
                },
            },
            "links": {"self": f"/api/v2/state-versions/{sv['id']}"},
        }

    # --- routes -------------------------------------------------------------------------

    def take_action(self, run: dict[str, Any], action: str) -> None:
        """``POST /runs/{id}/actions/{action}``: apply or discard a planned run, cancel one."""
        status = run["status"]
        if action == "apply":
            if status != "planned":
                raise SandboxApiError(
                    409,
                    "transition not allowed: the run is not paused "
                    f"for confirmation (status {status})",
                )
            self.set_status(run, "confirmed")
        elif action == "discard":
            if status != "planned":
                raise SandboxApiError(409, f"transition not allowed (status {status})")
            self.set_status(run, "discarded")
        elif action in ("cancel", "force-cancel"):
            if status not in ("pending", "planning", "applying", "confirmed"):
                raise SandboxApiError(409, f"transition not allowed (status {status})")
            self.set_status(run, "canceled")
        else:
            raise SandboxApiError(404)

    def add_routes(self, app: FastAPI) -> None:
        self.add_workspace_routes(app)
        self.add_variable_routes(app)
        self.add_run_routes(app)
        self.add_state_routes(app)
        self.add_sandbox_routes(app)

    def add_workspace_routes(self, app: FastAPI) -> None:
        """Workspaces: by organization and name, and by id."""

        @app.get(V2 + "/organizations/{org}/workspaces")
        async def list_workspaces(org: str, request: Request) -> Any:
            self.authenticate(request)
            self.check_org(org)
            self.seed()
            found = [w for w in self.workspaces.values() if w["organization"] == org]
            return jsonapi(
                {
                    "data": [self.workspace_json(w) for w in found],
                    "meta": {"pagination": _pagination(len(found))},
                }
            )

        @app.post(V2 + "/organizations/{org}/workspaces")
        async def create_workspace(org: str, request: Request) -> Any:
            self.authenticate(request)
            self.check_org(org)
            self.seed()
            attributes = _data(await json_body(request, empty={})).get("attributes") or {}
            name = attributes.get("name")
            if not isinstance(name, str) or not name:
                raise SandboxApiError(422, fields={"name": "Name can't be blank"})
            if self.find_workspace(org, name, create=False):
                raise SandboxApiError(422, fields={"name": "Name has already been taken"})
            return jsonapi(
                {"data": self.workspace_json(self.create_workspace(org, name, attributes))}, 201
            )

        @app.get(V2 + "/organizations/{org}/workspaces/{name}")
        async def get_workspace_by_name(org: str, name: str, request: Request) -> Any:
            self.authenticate(request)
            self.check_org(org)
            self.seed()
            ws = self.find_workspace(org, name, create=True)
            if ws is None:
                raise SandboxApiError(404)
            return jsonapi({"data": self.workspace_json(ws)})

        @app.patch(V2 + "/organizations/{org}/workspaces/{name}")
        async def update_workspace_by_name(org: str, name: str, request: Request) -> Any:
            self.authenticate(request)
            self.seed()
            ws = self.find_workspace(org, name, create=False)
            if ws is None:
                raise SandboxApiError(404)
            self.update_workspace(ws, await json_body(request, empty={}))
            return jsonapi({"data": self.workspace_json(ws)})

        @app.get(V2 + "/workspaces/{ws_id}")
        async def get_workspace(ws_id: str, request: Request) -> Any:
            self.authenticate(request)
            return jsonapi({"data": self.workspace_json(self.workspace(ws_id))})

        @app.patch(V2 + "/workspaces/{ws_id}")
        async def update_workspace(ws_id: str, request: Request) -> Any:
            self.authenticate(request)
            ws = self.workspace(ws_id)
            self.update_workspace(ws, await json_body(request, empty={}))
            return jsonapi({"data": self.workspace_json(ws)})

    def add_variable_routes(self, app: FastAPI) -> None:
        """A workspace's variables."""

        @app.get(V2 + "/workspaces/{ws_id}/vars")
        async def list_vars(ws_id: str, request: Request) -> Any:
            self.authenticate(request)
            self.workspace(ws_id)
            found = [v for v in self.vars.values() if v["workspace"] == ws_id]
            return jsonapi({"data": [self.var_json(v) for v in found]})

        @app.post(V2 + "/workspaces/{ws_id}/vars")
        async def create_var(ws_id: str, request: Request) -> Any:
            self.authenticate(request)
            self.workspace(ws_id)
            data = _data(await json_body(request, empty={}))
            if data.get("type") != "vars":
                raise SandboxApiError(422, fields={"type": "must be 'vars'"})
            attributes = {
                "key": None,
                "value": "",
                "description": None,
                "category": None,
                "hcl": False,
                "sensitive": False,
                **(data.get("attributes") or {}),
            }
            self.check_var(ws_id, attributes, None)
            var_id = "var-" + random_id()
            attributes["version-id"] = random_id(32).lower()
            self.vars[var_id] = {"id": var_id, "workspace": ws_id, "attributes": attributes}
            return jsonapi({"data": self.var_json(self.vars[var_id])}, 201)

        @app.patch(V2 + "/workspaces/{ws_id}/vars/{var_id}")
        async def update_var(ws_id: str, var_id: str, request: Request) -> Any:
            self.authenticate(request)
            var = self.vars.get(var_id)
            if var is None or var["workspace"] != ws_id:
                raise SandboxApiError(404)
            data = _data(await json_body(request, empty={}))
            merged = {**var["attributes"], **(data.get("attributes") or {})}
            self.check_var(ws_id, merged, var_id)
            merged["version-id"] = random_id(32).lower()
            var["attributes"] = merged
            return jsonapi({"data": self.var_json(var)})

        @app.delete(V2 + "/workspaces/{ws_id}/vars/{var_id}", status_code=204)
        async def delete_var(ws_id: str, var_id: str, request: Request) -> Response:
            self.authenticate(request)
            var = self.vars.get(var_id)
            if var is None or var["workspace"] != ws_id:
                raise SandboxApiError(404)
            del self.vars[var_id]
            return Response(status_code=204)

    def add_run_routes(self, app: FastAPI) -> None:
        """Runs, their actions (apply, discard, cancel), plans, applies and their logs."""

        @app.post(V2 + "/runs")
        async def create_run(request: Request) -> Any:
            self.authenticate(request)
            run = self.create_run(await json_body(request, empty={}))
            body = self.run_json(system_base_url(request), run)
            body["attributes"]["status"] = "pending"  # the answer to a create is never further
            return jsonapi({"data": body}, 201)

        @app.get(V2 + "/runs/{run_id}")
        async def get_run(run_id: str, request: Request) -> Any:
            self.authenticate(request)
            return jsonapi({"data": self.run_json(system_base_url(request), self.run(run_id))})

        @app.get(V2 + "/workspaces/{ws_id}/runs")
        async def list_runs(ws_id: str, request: Request) -> Any:
            self.authenticate(request)
            self.workspace(ws_id)
            base = system_base_url(request)
            found = [r for r in reversed(list(self.runs.values())) if r["workspace"] == ws_id]
            return jsonapi(
                {
                    "data": [self.run_json(base, r) for r in found],
                    "meta": {"pagination": _pagination(len(found))},
                }
            )

        @app.post(V2 + "/runs/{run_id}/actions/{action}")
        async def run_action(run_id: str, action: str, request: Request) -> Response:
            self.authenticate(request)
            self.take_action(self.run(run_id), action)
            return Response(status_code=202)

        @app.get(V2 + "/plans/{plan_id}")
        async def get_plan(plan_id: str, request: Request) -> Any:
            self.authenticate(request)
            run = next((r for r in self.runs.values() if r["plan"] == plan_id), None)
            if run is None:
                raise SandboxApiError(404)
            return jsonapi({"data": self.phase_json(system_base_url(request), run, "plan")})

        @app.get(V2 + "/applies/{apply_id}")
        async def get_apply(apply_id: str, request: Request) -> Any:
            self.authenticate(request)
            run = next((r for r in self.runs.values() if r["apply"] == apply_id), None)
            if run is None:
                raise SandboxApiError(404)
            return jsonapi({"data": self.phase_json(system_base_url(request), run, "apply")})

        @app.get("/_archivist/{object_id}", include_in_schema=False)
        async def logs(object_id: str) -> Response:
            for run in self.runs.values():
                if object_id == run["plan"]:
                    return PlainTextResponse(f"Terraform plan for {run['id']}: 1 to add.\n")
                if object_id == run["apply"]:
                    text = run["error"] or "Apply complete! Resources: 1 added."
                    return PlainTextResponse(f"{text}\n")
            return PlainTextResponse("not found", status_code=404)

    def add_state_routes(self, app: FastAPI) -> None:
        """State versions and their outputs."""

        @app.get(V2 + "/workspaces/{ws_id}/current-state-version")
        async def current_state_version(ws_id: str, request: Request, include: str = "") -> Any:
            self.authenticate(request)
            ws = self.workspace(ws_id)
            sv = self.state_versions.get(ws["current_state_version"] or "")
            if sv is None:
                raise SandboxApiError(404)
            body: dict[str, Any] = {"data": self.state_version_json(system_base_url(request), sv)}
            if "outputs" in include.split(","):
                body["included"] = [self.output_json(self.outputs[o], False) for o in sv["outputs"]]
            return jsonapi(body)

        @app.get(V2 + "/workspaces/{ws_id}/current-state-version-outputs")
        async def current_outputs(ws_id: str, request: Request) -> Any:
            self.authenticate(request)
            ws = self.workspace(ws_id)
            sv = self.state_versions.get(ws["current_state_version"] or "")
            if sv is None:
                raise SandboxApiError(404)
            return jsonapi(
                {"data": [self.output_json(self.outputs[o], False) for o in sv["outputs"]]}
            )

        @app.get(V2 + "/state-versions/{sv_id}/outputs")
        async def state_version_outputs(sv_id: str, request: Request) -> Any:
            self.authenticate(request)
            sv = self.state_versions.get(sv_id)
            if sv is None:
                raise SandboxApiError(404)
            return jsonapi(
                {"data": [self.output_json(self.outputs[o], False) for o in sv["outputs"]]}
            )

        @app.get(V2 + "/state-version-outputs/{output_id}")
        async def state_version_output(output_id: str, request: Request) -> Any:
            self.authenticate(request)
            output = self.outputs.get(output_id)
            if output is None:
                raise SandboxApiError(404)
            return jsonapi({"data": self.output_json(output, True)})

    def add_sandbox_routes(self, app: FastAPI) -> None:
        @app.post("/sandbox/faults/apply-error", tags=["tfc sandbox control"], status_code=201)
        async def apply_error(body: ApplyErrorBody) -> list[dict[str, Any]]:
            self.apply_errors.append(body.model_dump())
            return self.apply_errors

        @app.get("/ui", include_in_schema=False)
        async def ui() -> Response:
            self.seed()
            rows = ""
            for run in reversed(list(self.runs.values())):
                self.advance(run)
                ws = self.workspaces[run["workspace"]]
                rows += (
                    f"<tr><td>{esc(run['id'])}</td><td>{esc(ws['attributes']['name'])}</td>"
                    f"<td>{'destroy' if run['is-destroy'] else 'apply'}</td>"
                    f"<td>{esc(run['status'])}</td><td>{esc(run['message'])}</td>"
                    f"<td>{esc(run['error'] or '')}</td></tr>"
                )
            spaces = "".join(
                f"<li>{esc(w['organization'])}/{esc(w['attributes']['name'])} ({esc(w['id'])})</li>"
                for w in self.workspaces.values()
            )
            return page(
                "Sandbox Terraform Cloud",
                f"<h2>Workspaces</h2><ul>{spaces}</ul><h2>Runs</h2><table><tr><th>Run</th>"
                "<th>Workspace</th><th>Kind</th><th>Status</th><th>Message</th><th>Error</th></tr>"
                f"{rows}</table>",
            )


def jsonapi(body: Any, status: int = 200) -> JSONResponse:
    """A JSON:API answer (Terraform Cloud's media type)."""
    return JSONResponse(body, status_code=status, media_type=JSONAPI)


def _data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise SandboxApiError(400, "the body must be a JSON:API document with a data object")
    return data


def _pagination(total: int) -> dict[str, Any]:
    return {
        "current-page": 1,
        "page-size": max(total, 20),
        "prev-page": None,
        "next-page": None,
        "total-pages": 1,
        "total-count": total,
    }


def _tf_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"

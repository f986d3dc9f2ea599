"""The Terraform Cloud sandbox's API v2 as routes, one group per resource: workspaces,
variables, runs (with plans, applies and their logs), state versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from pao_sandbox.common import (
    json_body,
    random_id,
    system_base_url,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.tfc.config import (
    V2,
    jsonapi,
    jsonapi_data,
    pagination,
)

if TYPE_CHECKING:
    from pao_sandbox.tfc.sandbox import TfcSandbox


def add_workspace_routes(app: FastAPI, tfc: TfcSandbox) -> None:
    """Workspaces: by organization and name, and by id."""

    @app.get(V2 + "/organizations/{org}/workspaces")
    async def list_workspaces(org: str, request: Request) -> Any:
        tfc.authenticate(request)
        tfc.check_org(org)
        tfc.seed()
        found = [w for w in tfc.workspaces.values() if w["organization"] == org]
        return jsonapi(
            {
                "data": [tfc.workspace_json(w) for w in found],
                "meta": {"pagination": pagination(len(found))},
            }
        )

    @app.post(V2 + "/organizations/{org}/workspaces")
    async def create_workspace(org: str, request: Request) -> Any:
        tfc.authenticate(request)
        tfc.check_org(org)
        tfc.seed()
        attributes = jsonapi_data(await json_body(request, empty={})).get("attributes") or {}
        name = attributes.get("name")
        if not isinstance(name, str) or not name:
            raise SandboxApiError(422, fields={"name": "Name can't be blank"})
        if tfc.find_workspace(org, name, create=False):
            raise SandboxApiError(422, fields={"name": "Name has already been taken"})
        return jsonapi(
            {"data": tfc.workspace_json(tfc.create_workspace(org, name, attributes))}, 201
        )

    @app.get(V2 + "/organizations/{org}/workspaces/{name}")
    async def get_workspace_by_name(org: str, name: str, request: Request) -> Any:
        tfc.authenticate(request)
        tfc.check_org(org)
        tfc.seed()
        ws = tfc.find_workspace(org, name, create=True)
        if ws is None:
            raise SandboxApiError(404)
        return jsonapi({"data": tfc.workspace_json(ws)})

    @app.patch(V2 + "/organizations/{org}/workspaces/{name}")
    async def update_workspace_by_name(org: str, name: str, request: Request) -> Any:
        tfc.authenticate(request)
        tfc.seed()
        ws = tfc.find_workspace(org, name, create=False)
        if ws is None:
            raise SandboxApiError(404)
        tfc.update_workspace(ws, await json_body(request, empty={}))
        return jsonapi({"data": tfc.workspace_json(ws)})

    @app.get(V2 + "/workspaces/{ws_id}")
    async def get_workspace(ws_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        return jsonapi({"data": tfc.workspace_json(tfc.workspace(ws_id))})

    @app.patch(V2 + "/workspaces/{ws_id}")
    async def update_workspace(ws_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        ws = tfc.workspace(ws_id)
        tfc.update_workspace(ws, await json_body(request, empty={}))
        return jsonapi({"data": tfc.workspace_json(ws)})


def add_variable_routes(app: FastAPI, tfc: TfcSandbox) -> None:
    """A workspace's variables."""

    @app.get(V2 + "/workspaces/{ws_id}/vars")
    async def list_vars(ws_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        tfc.workspace(ws_id)
        found = [v for v in tfc.vars.values() if v["workspace"] == ws_id]
        return jsonapi({"data": [tfc.var_json(v) for v in found]})

    @app.post(V2 + "/workspaces/{ws_id}/vars")
    async def create_var(ws_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        tfc.workspace(ws_id)
        data = jsonapi_data(await json_body(request, empty={}))
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
        tfc.check_var(ws_id, attributes, None)
        var_id = "var-" + random_id()
        attributes["version-id"] = random_id(32).lower()
        tfc.vars[var_id] = {"id": var_id, "workspace": ws_id, "attributes": attributes}
        return jsonapi({"data": tfc.var_json(tfc.vars[var_id])}, 201)

    @app.patch(V2 + "/workspaces/{ws_id}/vars/{var_id}")
    async def update_var(ws_id: str, var_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        var = tfc.vars.get(var_id)
        if var is None or var["workspace"] != ws_id:
            raise SandboxApiError(404)
        data = jsonapi_data(await json_body(request, empty={}))
        merged = {**var["attributes"], **(data.get("attributes") or {})}
        tfc.check_var(ws_id, merged, var_id)
        merged["version-id"] = random_id(32).lower()
        var["attributes"] = merged
        return jsonapi({"data": tfc.var_json(var)})

    @app.delete(V2 + "/workspaces/{ws_id}/vars/{var_id}", status_code=204)
    async def delete_var(ws_id: str, var_id: str, request: Request) -> Response:
        tfc.authenticate(request)
        var = tfc.vars.get(var_id)
        if var is None or var["workspace"] != ws_id:
            raise SandboxApiError(404)
        del tfc.vars[var_id]
        return Response(status_code=204)


def add_run_routes(app: FastAPI, tfc: TfcSandbox) -> None:
    """Runs, their actions (apply, discard, cancel), plans, applies and their logs."""

    @app.post(V2 + "/runs")
    async def create_run(request: Request) -> Any:
        tfc.authenticate(request)
        run = tfc.create_run(await json_body(request, empty={}))
        body = tfc.run_json(system_base_url(request), run)
        body["attributes"]["status"] = "pending"  # the answer to a create is never further
        return jsonapi({"data": body}, 201)

    @app.get(V2 + "/runs/{run_id}")
    async def get_run(run_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        return jsonapi({"data": tfc.run_json(system_base_url(request), tfc.run(run_id))})

    @app.get(V2 + "/workspaces/{ws_id}/runs")
    async def list_runs(ws_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        tfc.workspace(ws_id)
        base = system_base_url(request)
        found = [r for r in reversed(list(tfc.runs.values())) if r["workspace"] == ws_id]
        return jsonapi(
            {
                "data": [tfc.run_json(base, r) for r in found],
                "meta": {"pagination": pagination(len(found))},
            }
        )

    @app.post(V2 + "/runs/{run_id}/actions/{action}")
    async def run_action(run_id: str, action: str, request: Request) -> Response:
        tfc.authenticate(request)
        tfc.take_action(tfc.run(run_id), action)
        return Response(status_code=202)

    @app.get(V2 + "/plans/{plan_id}")
    async def get_plan(plan_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        run = next((r for r in tfc.runs.values() if r["plan"] == plan_id), None)
        if run is None:
            raise SandboxApiError(404)
        return jsonapi({"data": tfc.phase_json(system_base_url(request), run, "plan")})

    @app.get(V2 + "/applies/{apply_id}")
    async def get_apply(apply_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        run = next((r for r in tfc.runs.values() if r["apply"] == apply_id), None)
        if run is None:
            raise SandboxApiError(404)
        return jsonapi({"data": tfc.phase_json(system_base_url(request), run, "apply")})

    @app.get("/_archivist/{object_id}", include_in_schema=False)
    async def logs(object_id: str) -> Response:
        for run in tfc.runs.values():
            if object_id == run["plan"]:
                return PlainTextResponse(f"Terraform plan for {run['id']}: 1 to add.\n")
            if object_id == run["apply"]:
                text = run["error"] or "Apply complete! Resources: 1 added."
                return PlainTextResponse(f"{text}\n")
        return PlainTextResponse("not found", status_code=404)


def add_state_routes(app: FastAPI, tfc: TfcSandbox) -> None:
    """State versions and their outputs."""

    @app.get(V2 + "/workspaces/{ws_id}/current-state-version")
    async def current_state_version(ws_id: str, request: Request, include: str = "") -> Any:
        tfc.authenticate(request)
        ws = tfc.workspace(ws_id)
        sv = tfc.state_versions.get(ws["current_state_version"] or "")
        if sv is None:
            raise SandboxApiError(404)
        body: dict[str, Any] = {"data": tfc.state_version_json(system_base_url(request), sv)}
        if "outputs" in include.split(","):
            body["included"] = [tfc.output_json(tfc.outputs[o], False) for o in sv["outputs"]]
        return jsonapi(body)

    @app.get(V2 + "/workspaces/{ws_id}/current-state-version-outputs")
    async def current_outputs(ws_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        ws = tfc.workspace(ws_id)
        sv = tfc.state_versions.get(ws["current_state_version"] or "")
        if sv is None:
            raise SandboxApiError(404)
        return jsonapi({"data": [tfc.output_json(tfc.outputs[o], False) for o in sv["outputs"]]})

    @app.get(V2 + "/state-versions/{sv_id}/outputs")
    async def state_version_outputs(sv_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        sv = tfc.state_versions.get(sv_id)
        if sv is None:
            raise SandboxApiError(404)
        return jsonapi({"data": [tfc.output_json(tfc.outputs[o], False) for o in sv["outputs"]]})

    @app.get(V2 + "/state-version-outputs/{output_id}")
    async def state_version_output(output_id: str, request: Request) -> Any:
        tfc.authenticate(request)
        output = tfc.outputs.get(output_id)
        if output is None:
            raise SandboxApiError(404)
        return jsonapi({"data": tfc.output_json(output, True)})

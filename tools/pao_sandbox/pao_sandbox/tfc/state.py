"""The Terraform Cloud sandbox's state (workspaces, variables, runs, state versions,
outputs, armed apply errors) and what changes workspaces and variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import Request
from pydantic import BaseModel

from pao_sandbox.common import (
    SandboxSystem,
    random_id,
)
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.tfc.config import (
    TfcConfig,
    TfcWorkspace,
    jsonapi_data,
    tfc_time,
)

if TYPE_CHECKING:
    pass


class TfcState(SandboxSystem[TfcConfig]):
    """Workspaces and variables, looked up and changed; authentication."""

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

    def update_workspace(self, ws: dict[str, Any], body: Any) -> None:
        attributes = jsonapi_data(body).get("attributes") or {}
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

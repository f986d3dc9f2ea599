"""The Terraform Cloud sandbox's vocabulary: its config, run states, the JSON:API media
type and document helpers."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pao_sandbox.common import (
    utcnow,
)
from pao_sandbox.errors import SandboxApiError

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


def jsonapi(body: Any, status: int = 200) -> JSONResponse:
    """A JSON:API answer (Terraform Cloud's media type)."""
    return JSONResponse(body, status_code=status, media_type=JSONAPI)


def jsonapi_data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise SandboxApiError(400, "the body must be a JSON:API document with a data object")
    return data


def pagination(total: int) -> dict[str, Any]:
    return {
        "current-page": 1,
        "page-size": max(total, 20),
        "prev-page": None,
        "next-page": None,
        "total-pages": 1,
        "total-count": total,
    }


def tf_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"

"""HTTP plumbing shared by the routers: the component container, the caller's identity
as a dependency, and the mapping of ``pao_gateway.errors`` to responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pao_common import errors
from pao_common.settings import Settings

from pao_gateway.catalog_items import ItemVersions
from pao_gateway.catalog_proxy import CatalogProxy
from pao_gateway.errors import (
    AuthenticationFailed,
    ChangeWindowClosed,
    GatewayError,
    IdentityProviderDown,
    InvalidSubmission,
    ResourceBusy,
    TooManyRequests,
)
from pao_gateway.identity import TokenVerifier, User
from pao_gateway.live import LiveEvents
from pao_gateway.reports import LeadTimeReport
from pao_gateway.request_reads import RequestReader
from pao_gateway.request_service import RequestService
from pao_gateway.resource_service import ResourceService
from pao_gateway.stream_slots import StreamSlots

REALM = "pao"


@dataclass
class Gateway:
    """Everything the routes use, built by the composition root once connections exist."""

    settings: Settings
    verifier: TokenVerifier
    catalog: CatalogProxy
    versions: ItemVersions
    requests: RequestService
    reader: RequestReader
    live: LiveEvents
    stream_slots: StreamSlots
    resources: ResourceService
    reports: LeadTimeReport


def gateway(request: Request) -> Gateway:
    component: Gateway = request.app.state.gateway
    return component


bearer = HTTPBearer(
    auto_error=False,
    description="A JWT of the configured issuer (locally: `pao token --user ID --team T`)",
)


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None:
        raise AuthenticationFailed("missing bearer token")
    try:
        return await gateway(request).verifier.verify(credentials.credentials)
    except errors.AuthenticationFailed as exc:  # pao_common's: answered 401 here
        raise AuthenticationFailed(str(exc)) from exc
    except errors.IdentityProviderDown as exc:
        raise IdentityProviderDown(str(exc)) from exc


CurrentUser = Annotated[User, Depends(current_user)]


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


def error_response(exc: GatewayError) -> JSONResponse:
    body: dict[str, object] = {"detail": exc.detail}
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidSubmission):
        body["errors"] = [e.as_dict() for e in exc.errors]
    if isinstance(exc, ChangeWindowClosed):
        body["change_window"] = {
            "name": exc.window,
            "until": exc.until,
            "action": "deny",
            "change_class": exc.change_class,
        }
    if isinstance(exc, ResourceBusy):
        body["running_request"] = exc.running_request
    if isinstance(exc, AuthenticationFailed):
        challenge = f'Bearer realm="{REALM}"'
        if exc.detail != "missing bearer token":  # RFC 6750 3.1: no error code then
            challenge += f', error="invalid_token", error_description="{_quoted(exc.detail)}"'
        headers["WWW-Authenticate"] = challenge
    if isinstance(exc, TooManyRequests):  # RFC 9110 10.2.3: delay-seconds
        body["retry_after_s"] = exc.retry_after_s
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return error_response(exc)

    async def on_invalid_body(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = []
        for error in exc.errors():
            location, *path = [str(p) for p in error["loc"]] or ["body"]
            errors.append(
                {"field": ".".join(path) or location, "message": error["msg"], "in": location}
            )
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_invalid_body)

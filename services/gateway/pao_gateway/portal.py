"""The portal: a web page over this API that renders the generated forms.

Static files under ``/portal/`` (plain JavaScript, no build step). ``/requests/<id>``
redirects to that request's page in the portal (``#/requests/<id>``): links in JIRA tickets
written before templates had ``request.url`` point there. On a local
platform, where the gateway trusts its development key, ``/api/v1/dev/token``
lets the portal sign a person in as any development user, the way ``pao token``
does on the command line; with a real issuer configured the route does not exist.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pao_common.portal_links import PORTAL_PATH, request_page
from pao_common.settings import Profile, Settings
from pydantic import BaseModel, ConfigDict, Field

from pao_gateway import devtokens
from pao_gateway.schemas import API


class DevTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=200, pattern=r"^[\w.@-]+$")
    teams: list[str] = Field(default_factory=list, max_length=50)
    roles: list[str] = Field(default_factory=list, max_length=50)


def trusts_dev_key(settings: Settings) -> bool:
    """The same condition under which the gateway verifies tokens with the dev key."""
    return (
        settings.profile in (Profile.LOCAL, Profile.TEST)
        and not settings.jwt_jwks_url
        and settings.jwt_public_key_file is None
    )


def register(app: FastAPI, settings: Settings) -> None:
    folder = resources.files("pao_gateway") / "portal"
    app.mount("/portal", StaticFiles(directory=str(folder), html=True), name="portal")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(PORTAL_PATH)

    @app.get("/requests/{request_id}", include_in_schema=False)
    async def request_link(request_id: str) -> RedirectResponse:
        return RedirectResponse(PORTAL_PATH + request_page(request_id))

    if not trusts_dev_key(settings):
        return
    router = APIRouter(prefix=f"{API}/dev", tags=["development"])

    @router.get("/token", summary="Whether development sign-in is available (local only)")
    async def dev_signin_available() -> dict[str, bool]:
        return {"enabled": True}

    @router.post("/token", summary="Mint a development token (local profile only)")
    async def dev_token(body: DevTokenBody) -> dict[str, Any]:
        teams, roles = tuple(body.teams), tuple(body.roles)
        token = await asyncio.to_thread(
            devtokens.mint, settings, user=body.user, teams=teams, roles=roles
        )
        return {"token": token, "token_type": "Bearer"}

    app.include_router(router)

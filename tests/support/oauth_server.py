"""A local OAuth 2.0 token endpoint (client-credentials grant, RFC 6749 4.4) for tests.

It answers ``POST /oauth2/token`` the way Keycloak, Okta or Confluent Cloud's identity
pool do: the client authenticated with HTTP Basic or with ``client_id`` /
``client_secret`` in the form, ``grant_type=client_credentials``, a JSON answer with
``access_token``, ``token_type`` and ``expires_in``, 401 ``invalid_client`` for bad
credentials and 400 ``unsupported_grant_type`` otherwise. Runs under uvicorn in the
test's event loop; ``issued`` is what it gave out, ``requests`` what it was asked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class TokenEndpoint:
    def __init__(
        self,
        port: int,
        *,
        client_id: str,
        client_secret: str,
        expires_in: int = 3600,
        tls: tuple[Path, Path] | None = None,
    ):
        self.port = port
        self.tls = tls  # (certificate, key): serve https
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/oauth2/token"

    def valid(self, token: str) -> bool:
        return token in self.issued

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/oauth2/token")
        async def token(request: Request) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            basic = request.headers.get("authorization", "")
            self.requests.append(
                {
                    "content_type": request.headers.get("content-type"),
                    "basic": basic.startswith("Basic "),
                    "form": form,
                }
            )
            if basic.startswith("Basic "):
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
                client = (unquote(user), unquote(password))
            else:
                client = (form.get("client_id", ""), form.get("client_secret", ""))
            if client != (self.client_id, self.client_secret):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            access_token = f"kafka-{uuid.uuid4().hex}"
            self.issued.append(access_token)
            return JSONResponse(
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                    "scope": form.get("scope", ""),
                }
            )

        return app

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._task

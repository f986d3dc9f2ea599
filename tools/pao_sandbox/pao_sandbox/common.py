"""What every sandbox shares: the control API, fault injection, a request log, pages.

Each external system is a ``SandboxSystem``: in-memory state, a pydantic config that
tests may patch at runtime, and a FastAPI app built by ``build_app``. Around the
system's real API the base class adds, under ``/sandbox/`` of its own prefix:

- ``GET  /sandbox/state``      the whole in-memory state as JSON (for assertions)
- ``POST /sandbox/reset``      forget all state, faults, requests and config patches
- ``GET|PATCH /sandbox/config`` read or change the config (``PATCH`` merges fields)
- ``GET|POST|DELETE /sandbox/faults``  scripted failures of the real API (``FaultSpec``)
- ``GET|DELETE /sandbox/requests``     every API request received, with its answer

A fault answers the next ``times`` matching requests with ``status`` instead of (``when:
"before"``, nothing happens) or after (``when: "after"``, the request takes effect
and the client still sees the failure, like a timeout after commit) the real handler.
"""

from __future__ import annotations

import asyncio
import fnmatch
import html
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar, Generic, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette._utils import get_route_path

from pao_sandbox.errors import SandboxApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    """``2024-05-01T12:00:00Z``: GitHub's timestamp format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_id(length: int = 16) -> str:
    """Mixed-case alphanumerics, like Terraform Cloud's ``run-…`` suffixes."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def system_base_url(request: Request) -> str:
    """The URL this system is mounted at (``http://127.0.0.1:8099/jira``), no trailing slash."""
    root = request.scope.get("root_path", "")
    return f"{request.url.scheme}://{request.url.netloc}{root}".rstrip("/")


async def json_body(request: Request, *, empty: Any = None) -> Any:
    """The request's JSON body; ``empty`` if there is none; a 400 if it does not parse."""
    raw = await request.body()
    if not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SandboxApiError(400, f"Problems parsing JSON: {exc}") from exc


class FaultSpec(BaseModel):
    """A scripted failure: the next ``times`` requests matching method and path get ``status``."""

    method: str = Field("*", description="HTTP method, or * for any")
    path: str = Field(description="Path below the system's prefix; fnmatch glob (* ? [..])")
    status: int = Field(ge=100, le=599)
    times: int = Field(1, ge=1)
    when: Literal["before", "after"] = "before"
    body: Any = Field(None, description="JSON body; default: the system's own error shape")
    headers: dict[str, str] = Field(default_factory=dict)
    delay_s: float = Field(0.0, ge=0, le=60, description="Wait before answering")


@dataclass
class _ArmedFault:
    spec: FaultSpec
    remaining: int
    hits: int = 0


class FaultBook:
    """Armed faults, first match wins; each hit uses one of its ``times``."""

    def __init__(self) -> None:
        self._faults: list[_ArmedFault] = []

    def add(self, spec: FaultSpec) -> None:
        self._faults.append(_ArmedFault(spec, spec.times))

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str, path: str) -> FaultSpec | None:
        for armed in self._faults:
            spec = armed.spec
            if spec.method not in ("*", method.upper()):
                continue
            if not fnmatch.fnmatchcase(path, spec.path):
                continue
            armed.remaining -= 1
            armed.hits += 1
            if armed.remaining <= 0:
                self._faults.remove(armed)
            return spec
        return None

    def dump(self) -> list[dict[str, Any]]:
        return [{**a.spec.model_dump(), "remaining": a.remaining} for a in self._faults]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    received_at: float = field(default_factory=time.time)
    status: int | None = None
    fault: bool = False

    def dump(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "received_at": self.received_at,
            "status": self.status,
            "fault": self.fault,
        }


class SandboxSystem(Generic[ConfigT]):
    """One emulated external system: state, config, control API and its real API."""

    name: ClassVar[str]
    title: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, config: ConfigT) -> None:
        self.initial_config: ConfigT = config
        self.config: ConfigT = config.model_copy(deep=True)
        self.faults = FaultBook()
        self.requests: deque[RecordedRequest] = deque(maxlen=2000)
        self.reset_state()

    # --- to be provided by each system --------------------------------------------------

    def reset_state(self) -> None:
        """Forget everything the API created."""
        raise NotImplementedError

    def dump_state(self) -> dict[str, Any]:
        """The whole in-memory state, JSON-serialisable."""
        raise NotImplementedError

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        """An error answer the way the real system writes it."""
        raise NotImplementedError

    def add_routes(self, app: FastAPI) -> None:
        """Register the system's real API and its pages."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------

    def reset(self) -> None:
        self.config = self.initial_config.model_copy(deep=True)
        self.faults.clear()
        self.requests.clear()
        self.reset_state()

    def error_response(self, exc: SandboxApiError) -> Response:
        if exc.status == 204 or exc.status == 304:
            return Response(status_code=exc.status, headers=exc.headers)
        body = (
            exc.body
            if exc.body is not None
            else self.error_body(exc.status, exc.message, exc.fields)
        )
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    def build_app(self) -> FastAPI:
        app = FastAPI(title=f"PAO sandbox: {self.title}", docs_url="/sandbox/docs", redoc_url=None)
        app.state.system = self

        @app.exception_handler(SandboxApiError)
        async def _api_error(_: Request, exc: SandboxApiError) -> Response:
            return self.error_response(exc)

        self._add_control_routes(app)
        self.add_routes(app)
        app.add_middleware(_FaultGate, system=self)
        return app

    def _add_control_routes(self, app: FastAPI) -> None:
        tag: list[str | Enum] = [f"{self.name} sandbox control"]

        @app.get("/sandbox/state", tags=tag)
        async def state() -> dict[str, Any]:
            return self.dump_state()

        @app.post("/sandbox/reset", tags=tag)
        async def reset() -> dict[str, str]:
            self.reset()
            return {"status": "reset"}

        @app.get("/sandbox/config", tags=tag)
        async def get_config() -> dict[str, Any]:
            return self.config.model_dump(mode="json")

        @app.patch("/sandbox/config", tags=tag)
        async def patch_config(request: Request) -> dict[str, Any]:
            patch = await json_body(request, empty={})
            if not isinstance(patch, dict):
                raise SandboxApiError(400, "config patch must be a JSON object")
            merged = {**self.config.model_dump(), **patch}
            try:
                self.config = type(self.config).model_validate(merged)
            except ValueError as exc:
                raise SandboxApiError(422, str(exc)) from exc
            return self.config.model_dump(mode="json")

        @app.get("/sandbox/faults", tags=tag)
        async def list_faults() -> list[dict[str, Any]]:
            return self.faults.dump()

        @app.post("/sandbox/faults", tags=tag, status_code=201)
        async def add_fault(spec: FaultSpec) -> list[dict[str, Any]]:
            self.faults.add(spec)
            return self.faults.dump()

        @app.delete("/sandbox/faults", tags=tag, status_code=204)
        async def clear_faults() -> Response:
            self.faults.clear()
            return Response(status_code=204)

        @app.get("/sandbox/requests", tags=tag)
        async def list_requests(path: str = "*", method: str = "*") -> list[dict[str, Any]]:
            return [
                r.dump()
                for r in self.requests
                if fnmatch.fnmatchcase(r.path, path) and method in ("*", r.method)
            ]

        @app.delete("/sandbox/requests", tags=tag, status_code=204)
        async def clear_requests() -> Response:
            self.requests.clear()
            return Response(status_code=204)


class _FaultGate:
    """ASGI middleware: log every API request and play armed faults."""

    def __init__(self, app: ASGIApp, system: SandboxSystem[Any]) -> None:
        self.app = app
        self.system = system

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = get_route_path(scope) or "/"
        if path.startswith("/sandbox/") or path.startswith("/ui"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replayer(body, receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        record = RecordedRequest(
            method=scope["method"],
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body.decode("utf-8", "replace"),
        )
        self.system.requests.append(record)
        fault = self.system.faults.take(scope["method"], path)
        if fault is None:
            await self.app(scope, replay, _status_recorder(send, record))
            return
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.when == "after":
            await self.app(scope, replay, _discard)
        record.fault = True
        record.status = fault.status
        await self._send_fault(fault, send)

    async def _send_fault(self, fault: FaultSpec, send: Send) -> None:
        body = fault.body
        if body is None:
            body = self.system.error_body(
                fault.status, f"sandbox fault injected: HTTP {fault.status}", {}
            )
        payload = b"" if fault.status in (204, 304) else json.dumps(body).encode()
        headers = [(b"content-type", b"application/json")] if payload else []
        headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replayer(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _status_recorder(send: Send, record: RecordedRequest) -> Send:
    async def recording_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            record.status = message["status"]
        await send(message)

    return recording_send


async def _discard(_: Message) -> None:
    return None


# --- pages ----------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;
text-align:left;vertical-align:top}form{display:inline}button{margin-right:.3rem}
.badge{padding:.1rem .4rem;border-radius:.3rem;background:#eee}.ok{background:#cfc}
.bad{background:#fcc}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{esc(title)}</h1>{body}</body></html>"
    )


def button_form(action: str, label: str, fields: dict[str, str] | None = None) -> str:
    hidden = "".join(
        f"<input type='hidden' name='{esc(k)}' value='{esc(v)}'>" for k, v in (fields or {}).items()
    )
    return (
        f"<form method='post' action='{esc(action)}'>{hidden}<button>{esc(label)}</button></form>"
    )

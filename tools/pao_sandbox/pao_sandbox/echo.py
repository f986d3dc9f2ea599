"""A generic REST target: echoes requests, plays scripted answers, runs long operations.

Mounted at ``/echo``. Anything not listed below is echoed with 200::

    {"method", "path", "query": {k: v | [v, ...]}, "headers": {...}, "json": <body> | null,
     "body": "<raw text when not JSON>"}

Scripted answers (``POST /sandbox/responses``)::

    {"method": "POST", "path": "/v1/things",
     "responses": [{"status": 429, "headers": {"Retry-After": "1"}, "json": {...}},
                   {"status": 201, "json": {"id": "t-1"}}],
     "repeat_last": false}

answer the next matching requests in order; when used up, echoing resumes (or the last
one repeats). Long-running operations::

    POST /operations   {"polls": 2, "result": {...}, "fail": false, "done_after_s": null}
        -> 202, Location: <base>/operations/{id}, {"id", "status": "pending", "status_url"}
    GET  /operations/{id}
        -> {"id", "status": "pending"|"running"|"done"|"failed", "result"?, "error"?}
           (pending/running answer ``Retry-After: 1``) after ``polls`` GETs (or seconds)

Helpers like httpbin's: ``/status/{code}`` answers that status, ``/delay/{s}`` waits.

The APIs the shipped catalog items call (a DNS API, a PAM vault, a tenancy API, a
Kubernetes API server) answer as the real ones would (201 with the created resource,
204 on delete, 404/409/422), see ``targets`` and ``kubernetes``; scripted answers still
come first, and only a route none of them claims is echoed.
With ``required_headers`` configured (e.g. {"Authorization": "Bearer x"}), a request
missing any of them gets 401. ``GET /sandbox/requests`` lists what arrived, with times.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from pao_sandbox.common import SandboxSystem, json_body, random_id, system_base_url
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.kubernetes import KubernetesApi
from pao_sandbox.targets import (
    Call,
    DnsRecordsApi,
    EmulatedApi,
    PamGrantsApi,
    TenancyMembersApi,
    dispatch,
)


class ScriptedResponse(BaseModel):
    status: int = Field(200, ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    json_: Any = Field(None, alias="json")
    text: str | None = None
    delay_s: float = Field(0.0, ge=0, le=60)

    model_config = {"populate_by_name": True}


class Script(BaseModel):
    method: str = "*"
    path: str = Field(description="Path below /echo; fnmatch glob")
    responses: list[ScriptedResponse] = Field(min_length=1)
    repeat_last: bool = False


class EchoConfig(BaseModel):
    required_headers: dict[str, str] = Field(default_factory=dict)
    emulate_apis: bool = Field(
        True, description="Answer the shipped items' APIs as they would (False: echo all)"
    )
    operation_polls: int = Field(2, ge=0, description="Default GETs an operation stays pending")


class OperationBody(BaseModel):
    polls: int | None = Field(None, ge=0)
    done_after_s: float | None = Field(None, ge=0)
    result: Any = None
    fail: bool = False
    error: str = "operation failed"


class EchoSandbox(SandboxSystem[EchoConfig]):
    name: ClassVar[str] = "echo"
    title: ClassVar[str] = "REST echo target"
    config_model: ClassVar[type[BaseModel]] = EchoConfig

    def reset_state(self) -> None:
        self.scripts: list[dict[str, Any]] = []
        self.operations: dict[str, dict[str, Any]] = {}
        # Most specific first: /api/v1/grants is a PAM vault's, not a Kubernetes resource.
        self.apis: list[EmulatedApi] = [
            DnsRecordsApi(),
            PamGrantsApi(),
            TenancyMembersApi(),
            KubernetesApi(),
        ]

    def dump_state(self) -> dict[str, Any]:
        return {
            "scripts": [
                {**s, "script": s["script"].model_dump(by_alias=True)} for s in self.scripts
            ],
            "operations": [
                {k: v for k, v in o.items() if not k.startswith("_")}
                for o in self.operations.values()
            ],
            "apis": {api.name: api.dump() for api in self.apis},
        }

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        body: dict[str, Any] = {"error": message or f"HTTP {status}"}
        if fields:
            body["fields"] = fields
        return body

    def check_auth(self, request: Request) -> None:
        for name, value in self.config.required_headers.items():
            if request.headers.get(name) != value:
                raise SandboxApiError(401, f"missing or wrong header {name}")

    def next_scripted(self, method: str, path: str) -> ScriptedResponse | None:
        for entry in self.scripts:
            script: Script = entry["script"]
            if script.method not in ("*", method) or not fnmatch.fnmatchcase(path, script.path):
                continue
            index: int = entry["used"]
            if index >= len(script.responses) and not script.repeat_last:
                continue
            entry["used"] += 1
            chosen: ScriptedResponse = script.responses[min(index, len(script.responses) - 1)]
            return chosen
        return None

    def operation_json(self, base: str, op: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in op.items() if not k.startswith("_")}
        body["status_url"] = f"{base}/operations/{op['id']}"
        return body

    def add_routes(self, app: FastAPI) -> None:
        @app.post("/sandbox/responses", tags=["echo sandbox control"], status_code=201)
        async def script(body: Script) -> dict[str, Any]:
            self.scripts.insert(0, {"script": body, "used": 0})
            return {"scripts": len(self.scripts)}

        @app.delete("/sandbox/responses", tags=["echo sandbox control"], status_code=204)
        async def clear_scripts() -> Response:
            self.scripts.clear()
            return Response(status_code=204)

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
        async def anything(path: str, request: Request) -> Response:
            route = "/" + path
            self.check_auth(request)
            scripted = self.next_scripted(request.method, route)
            if scripted is not None:
                return await scripted_answer(scripted)
            base = system_base_url(request)
            if self.config.emulate_apis:
                emulated = await self.emulate(base, route, request)
                if emulated is not None:
                    return emulated
            if route == "/operations" and request.method == "POST":
                return await self.start_operation(base, request)
            if route.startswith("/operations/") and request.method == "GET":
                return self.poll_operation(base, route.removeprefix("/operations/"))
            if route.startswith("/status/") and route[8:].isdigit():
                status = int(route[8:])
                if status in (204, 304) or status < 200:
                    return Response(status_code=status)
                return JSONResponse(await self.echo(request, route), status_code=status)
            if route.startswith("/delay/"):
                try:
                    await asyncio.sleep(min(float(route[7:]), 30.0))
                except ValueError as exc:
                    raise SandboxApiError(400, "delay must be a number of seconds") from exc
            return JSONResponse(await self.echo(request, route))

    async def emulate(self, base: str, route: str, request: Request) -> Response | None:
        """The answer of the emulated API that claims ``route``; ``None``: none does."""
        if not any(api.pattern.match(route) for api in self.apis):
            return None
        call = Call(
            method=request.method,
            route=route,
            body=await json_body(request),
            headers={k.lower(): v for k, v in request.headers.items()},
            base_url=base,
        )
        answer = dispatch(self.apis, call)
        if answer is None:
            return None
        if answer.status == 204 or answer.body is None:
            return Response(status_code=answer.status, headers=answer.headers)
        return JSONResponse(answer.body, answer.status, answer.headers)

    async def echo(self, request: Request, route: str) -> dict[str, Any]:
        raw = await request.body()
        parsed: Any = None
        text: str | None = None
        if raw:
            try:
                parsed = await json_body(request)
            except SandboxApiError:
                text = raw.decode("utf-8", "replace")
        query: dict[str, Any] = {}
        for key in request.query_params:
            values = request.query_params.getlist(key)
            query[key] = values[0] if len(values) == 1 else values
        return {
            "method": request.method,
            "path": route,
            "query": query,
            "headers": dict(request.headers),
            "json": parsed,
            "body": text,
        }

    async def start_operation(self, base: str, request: Request) -> Response:
        body = OperationBody.model_validate(await json_body(request, empty={}) or {})
        op_id = "op-" + random_id(12)
        self.operations[op_id] = {
            "id": op_id,
            "status": "pending",
            "polls": 0,
            "_polls_needed": self.config.operation_polls if body.polls is None else body.polls,
            "_done_at": None if body.done_after_s is None else time.monotonic() + body.done_after_s,
            "_result": body.result if body.result is not None else {"operation": op_id},
            "_fail": body.fail,
            "_error": body.error,
        }
        op = self.operations[op_id]
        url = f"{base}/operations/{op_id}"
        return JSONResponse(
            self.operation_json(base, op), 202, {"Location": url, "Retry-After": "1"}
        )

    def poll_operation(self, base: str, op_id: str) -> Response:
        op = self.operations.get(op_id)
        if op is None:
            raise SandboxApiError(404, f"no operation {op_id}")
        if op["status"] in ("pending", "running"):
            op["polls"] += 1
            due = (
                time.monotonic() >= op["_done_at"]
                if op["_done_at"] is not None
                else op["polls"] > op["_polls_needed"]
            )
            if due:
                op["status"] = "failed" if op["_fail"] else "done"
                if op["_fail"]:
                    op["error"] = op["_error"]
                else:
                    op["result"] = op["_result"]
            else:
                op["status"] = "running" if op["polls"] > 1 else "pending"
        headers = {"Retry-After": "1"} if op["status"] in ("pending", "running") else {}
        return JSONResponse(self.operation_json(base, op), headers=headers)


async def scripted_answer(scripted: ScriptedResponse) -> Response:
    """What a scripted response (``POST /sandbox/responses``) answers, after its delay."""
    if scripted.delay_s:
        await asyncio.sleep(scripted.delay_s)
    if scripted.text is not None:
        return Response(scripted.text, scripted.status, scripted.headers, "text/plain")
    if scripted.json_ is None and scripted.status in (204, 304):
        return Response(status_code=scripted.status, headers=scripted.headers)
    return JSONResponse(scripted.json_, scripted.status, scripted.headers)

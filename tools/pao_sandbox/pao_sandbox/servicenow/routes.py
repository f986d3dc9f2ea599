"""The ServiceNow sandbox's Table API as routes (``/api/now/table/{table}``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from pao_sandbox import encoded_query
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.servicenow.config import (
    MAX_LIMIT,
)

if TYPE_CHECKING:
    from pao_sandbox.servicenow.sandbox import ServiceNowSandbox


def add_table_routes(app: FastAPI, servicenow: ServiceNowSandbox) -> None:
    """The Table API: list, read, create, update and delete records of a table."""

    tag: list[Any] = ["Table API"]

    @app.get("/api/now/table/{table}", tags=tag)
    async def list_records(request: Request, table: str) -> Response:
        servicenow.authenticate(request)
        params = request.query_params
        rows = list(servicenow.table(table).values())
        query = encoded_query.parse(params.get("sysparm_query", ""))
        found = [r for r in rows if query.matches(r)]
        for name, descending in reversed(query.order_by):
            found.sort(key=lambda r, n=name: r.get(n, ""), reverse=descending)  # type: ignore[misc]
        try:
            limit = min(int(params.get("sysparm_limit", MAX_LIMIT)), MAX_LIMIT)
            offset = int(params.get("sysparm_offset", 0))
        except ValueError as exc:
            raise SandboxApiError(400, f"Invalid sysparm value: {exc}") from exc
        page_rows = found[offset : offset + max(limit, 0)]
        fields = params.get("sysparm_fields", "")
        display = params.get("sysparm_display_value", "false").lower()
        headers = {"X-Total-Count": str(len(found))}
        if offset + limit < len(found):
            base = str(request.url.remove_query_params(["sysparm_offset"]))
            joiner = "&" if "?" in base else "?"
            headers["Link"] = f'<{base}{joiner}sysparm_offset={offset + limit}>;rel="next"'
        return JSONResponse(
            {"result": [servicenow.shown(r, fields, display) for r in page_rows]}, headers=headers
        )

    @app.get("/api/now/table/{table}/{sys_id}", tags=tag)
    async def get_record(request: Request, table: str, sys_id: str) -> Response:
        servicenow.authenticate(request)
        params = request.query_params
        record = servicenow.record(table, sys_id)
        display = params.get("sysparm_display_value", "false").lower()
        return JSONResponse(
            {"result": servicenow.shown(record, params.get("sysparm_fields", ""), display)}
        )

    @app.post("/api/now/table/{table}", tags=tag, status_code=201)
    async def create_record(request: Request, table: str) -> Response:
        user = servicenow.authenticate(request)
        servicenow.table(table)
        record = servicenow.create(table, await servicenow.request_body(request), user)
        location = f"{request.url.remove_query_params([])}/{record['sys_id']}"
        return JSONResponse({"result": record}, status_code=201, headers={"Location": location})

    async def update_record(request: Request, table: str, sys_id: str) -> Response:
        user = servicenow.authenticate(request)
        servicenow.record(table, sys_id)
        record = servicenow.update(table, sys_id, await servicenow.request_body(request), user)
        return JSONResponse({"result": record})

    for method in ("PATCH", "PUT"):
        app.add_api_route(
            "/api/now/table/{table}/{sys_id}", update_record, methods=[method], tags=tag
        )

    @app.delete("/api/now/table/{table}/{sys_id}", tags=tag, status_code=204)
    async def delete_record(request: Request, table: str, sys_id: str) -> Response:
        servicenow.authenticate(request)
        servicenow.record(table, sys_id)
        del servicenow.records[table][sys_id]
        return Response(status_code=204)

"""ServiceNow sandbox: the Table API over CMDB configuration items (CIs) and change requests.

Mounted at ``/servicenow``; a client's instance URL is ``http://HOST:PORT/servicenow``.

Real API (the shapes of ``/api/now/table`` on a real instance)::

    GET    /api/now/table/{table}            {"result": [record, ...]}, X-Total-Count, Link
           ?sysparm_query=a=1^ORa=2^b!=3^ORDERBYname   (see ``encoded_query``)
           &sysparm_limit=10000 &sysparm_offset=0 &sysparm_fields=sys_id,name
           &sysparm_display_value=false|true|all  (labels of choice fields)
    GET    /api/now/table/{table}/{sys_id}   {"result": record}
    POST   /api/now/table/{table}            201 {"result": record}, Location
    PATCH  /api/now/table/{table}/{sys_id}   {"result": record}  (PUT: the same)
    DELETE /api/now/table/{table}/{sys_id}   204

Auth is HTTP Basic (``users``: user name -> password); anything else is 401. Every value
is a string, as the real API writes them (``"install_status": "7"``, ``"true"``). A record
has ``sys_id`` (32 hex), ``sys_class_name``, ``sys_created_on``/``sys_updated_on``
(``2024-05-01 12:00:00``, UTC), ``sys_created_by``/``sys_updated_by`` and ``sys_mod_count``.
A field the table does not have is ignored on write, as a real instance does; a table
has the ``cmdb_ci`` columns, those of its class (``CLASS_COLUMNS``) and any ``u_``
custom column. Errors are ServiceNow's::

    {"error": {"message": "Invalid table cmdb_ci_nope", "detail": null}, "status": "failure"}

Change requests (table ``change_request``) have the task and change columns PAO uses
(``CHANGE_COLUMNS``): ``number`` (``CHG0010001``...), ``state`` (-5 New, -4 Assess,
-3 Authorize, -2 Scheduled, -1 Implement, 0 Review, 3 Closed, 4 Canceled), ``approval``
(``not requested``, ``requested``, ``approved``, ``rejected``), ``active`` (false once
closed or canceled), ``risk``, ``type``, ``start_date``/``end_date``, ``close_code``,
``close_notes``, ``correlation_id``/``correlation_display``. A change written with state
Assess asks for approval (``approval`` becomes ``requested``), as the normal change
model does; an approver approves (state Scheduled) or rejects (back to New).

Sandbox side (not in ServiceNow)::

    GET  /ui                                  the CIs, per class, with their status and fields
    GET  /ui/changes                          the change requests, with Approve / Reject
    GET  /change_request.do?sys_id=...        one change request (the form's URL on an instance)
    POST /sandbox/change_request/{sys_id}/approve   {"user", "comment"} (also /reject)

Every approval decision POSTs the change request record as JSON to ``webhook_url`` when
one is configured (what a business rule's outbound REST message sends), signed
``X-Hub-Signature: sha256=<HMAC-SHA256(webhook_secret, raw body)>``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from pao_sandbox import encoded_query
from pao_sandbox.common import SandboxSystem, esc, json_body, page, utcnow
from pao_sandbox.errors import SandboxApiError

# The columns every CI has (cmdb_ci), as far as PAO's mappings reach for them.
CI_COLUMNS = frozenset(
    {
        "name",
        "short_description",
        "comments",
        "install_status",
        "operational_status",
        "correlation_id",
        "environment",
        "fqdn",
        "ip_address",
        "host_name",
        "dns_domain",
        "category",
        "subcategory",
        "cost_center",
        "owned_by",
        "managed_by",
        "support_group",
        "assigned_to",
        "company",
        "location",
        "discovery_source",
        "attributes",
        "version",
        "serial_number",
        "asset_tag",
        "used_for",
    }
)
SYSTEM_COLUMNS = (
    "sys_id",
    "sys_class_name",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
)
CLASS_COLUMNS: dict[str, frozenset[str]] = {
    "cmdb_ci": frozenset(),
    "cmdb_ci_appl": frozenset(),
    "cmdb_ci_db_instance": frozenset({"tcp_port", "instance_name", "type"}),
    "cmdb_ci_db_postgresql_instance": frozenset({"tcp_port", "instance_name", "type"}),
    "cmdb_ci_database": frozenset({"type"}),
    "cmdb_ci_kubernetes_namespace": frozenset({"cluster_name"}),
    "cmdb_ci_dns_name": frozenset({"record_type", "value", "ttl"}),
    "cmdb_ci_service": frozenset({"service_classification"}),
}
INSTALL_STATUS = {
    "1": "Installed",
    "2": "On Order",
    "3": "In Maintenance",
    "4": "Pending Install",
    "5": "Pending Repair",
    "6": "In Stock",
    "7": "Retired",
    "100": "Absent",
}
OPERATIONAL_STATUS = {
    "1": "Operational",
    "2": "Non-Operational",
    "3": "Repair in Progress",
    "4": "DR Standby",
    "5": "Ready",
    "6": "Retired",
}
CHOICES = {"install_status": INSTALL_STATUS, "operational_status": OPERATIONAL_STATUS}
DEFAULTS = {"install_status": "1", "operational_status": "1"}
MAX_LIMIT = 10_000

CHANGE_TABLE = "change_request"
# The task and change_request columns, as far as PAO (and a change manager) reads them.
CHANGE_COLUMNS = frozenset(
    {
        "number",
        "short_description",
        "description",
        "state",
        "approval",
        "active",
        "type",
        "risk",
        "impact",
        "priority",
        "category",
        "assignment_group",
        "assigned_to",
        "requested_by",
        "start_date",
        "end_date",
        "work_start",
        "work_end",
        "close_code",
        "close_notes",
        "comments",
        "work_notes",
        "correlation_id",
        "correlation_display",
        "cmdb_ci",
        "justification",
        "implementation_plan",
        "backout_plan",
    }
)
CHANGE_STATES = {
    "-5": "New",
    "-4": "Assess",
    "-3": "Authorize",
    "-2": "Scheduled",
    "-1": "Implement",
    "0": "Review",
    "3": "Closed",
    "4": "Canceled",
}
APPROVALS = {
    "not requested": "Not Yet Requested",
    "requested": "Requested",
    "approved": "Approved",
    "rejected": "Rejected",
}
RISKS = {"1": "Very High", "2": "High", "3": "Moderate", "4": "Low"}
CHANGE_CHOICES = {"state": CHANGE_STATES, "approval": APPROVALS, "risk": RISKS}
CHANGE_DEFAULTS = {
    "state": "-5",
    "approval": "not requested",
    "active": "true",
    "type": "normal",
    "risk": "3",
    "impact": "3",
    "priority": "4",
}
ENDED = frozenset({"3", "4"})


class DecisionBody(BaseModel):
    user: str = "sandbox-approver"
    comment: str | None = None


class ServiceNowConfig(BaseModel):
    users: dict[str, str] = Field(
        default_factory=lambda: {"pao.integration": "sandbox-servicenow-password"},
        description="user name -> password accepted with Basic auth",
    )
    tables: list[str] = Field(
        default_factory=lambda: sorted([*CLASS_COLUMNS, CHANGE_TABLE]),
        description="The tables the instance has (CI classes, change_request); others are"
        " 'Invalid table'",
    )
    webhook_url: str = Field("", description="Where approval decisions are POSTed (PAO's gateway)")
    webhook_secret: str = Field("", description="Signs the webhook (X-Hub-Signature sha256)")
    webhook_attempts: int = Field(3, ge=1, le=10)
    webhook_timeout_s: float = 5.0


def sn_time() -> str:
    """``2024-05-01 12:00:00``: how the Table API writes a date-time (UTC)."""
    return utcnow().strftime("%Y-%m-%d %H:%M:%S")


def sn_value(value: Any) -> str:
    """A JSON value as the string ServiceNow stores."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class ServiceNowSandbox(SandboxSystem[ServiceNowConfig]):
    name: ClassVar[str] = "servicenow"
    title: ClassVar[str] = "ServiceNow (CMDB, change requests)"
    config_model: ClassVar[type[BaseModel]] = ServiceNowConfig

    def reset_state(self) -> None:
        self.records: dict[str, dict[str, dict[str, str]]] = {}  # table -> sys_id -> record
        self.numbers = 10000  # change_request numbers: CHG0010001, ...
        self.deliveries: list[dict[str, Any]] = []

    def dump_state(self) -> dict[str, Any]:
        return {
            "records": {t: list(rows.values()) for t, rows in self.records.items()},
            "webhook_deliveries": self.deliveries,
        }

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        detail = fields.get("detail") if fields else None
        return {"error": {"message": message, "detail": detail}, "status": "failure"}

    # --- the model ----------------------------------------------------------------------

    def columns(self, table: str) -> frozenset[str]:
        if table == CHANGE_TABLE:
            return CHANGE_COLUMNS | frozenset(SYSTEM_COLUMNS)
        return CI_COLUMNS | CLASS_COLUMNS.get(table, frozenset()) | frozenset(SYSTEM_COLUMNS)

    def table(self, table: str) -> dict[str, dict[str, str]]:
        if table not in self.config.tables:
            raise SandboxApiError(400, f"Invalid table {table}")
        return self.records.setdefault(table, {})

    def record(self, table: str, sys_id: str) -> dict[str, str]:
        rows = self.table(table)
        if sys_id not in rows:
            raise SandboxApiError(
                404,
                "No Record found",
                fields={"detail": "Record doesn't exist or ACL restricts the record retrieval"},
            )
        return rows[sys_id]

    def writable(self, table: str, body: Any) -> dict[str, str]:
        if not isinstance(body, dict):
            raise SandboxApiError(
                400,
                "Exception while reading request",
                fields={"detail": "The payload is not valid JSON."},
            )
        columns = self.columns(table)
        return {
            k: sn_value(v)
            for k, v in body.items()
            if (k in columns or k.startswith("u_")) and k not in SYSTEM_COLUMNS
        }

    def create(self, table: str, body: Any, user: str) -> dict[str, str]:
        rows = self.table(table)
        now = sn_time()
        if table == CHANGE_TABLE:
            record = {c: "" for c in sorted(CHANGE_COLUMNS)}
            record.update(CHANGE_DEFAULTS)
            record.update(self.writable(table, body))
            self.numbers += 1
            record["number"] = f"CHG{self.numbers:07d}"
            _change_model(record, {})
        else:
            record = {c: "" for c in sorted(CI_COLUMNS | CLASS_COLUMNS.get(table, frozenset()))}
            record.update(DEFAULTS)
            record.update(self.writable(table, body))
        record.update(
            sys_id=secrets.token_hex(16),
            sys_class_name=table,
            sys_created_on=now,
            sys_created_by=user,
            sys_updated_on=now,
            sys_updated_by=user,
            sys_mod_count="0",
        )
        rows[record["sys_id"]] = record
        return record

    def update(self, table: str, sys_id: str, body: Any, user: str) -> dict[str, str]:
        record = self.record(table, sys_id)
        changes = self.writable(table, body)
        if table == CHANGE_TABLE:
            changes.pop("number", None)  # read-only
        if any(record.get(k) != v for k, v in changes.items()):
            before = dict(record)
            record.update(changes)
            if table == CHANGE_TABLE:
                _change_model(record, before)
            record.update(
                sys_updated_on=sn_time(),
                sys_updated_by=user,
                sys_mod_count=str(int(record["sys_mod_count"]) + 1),
            )
        return record

    def authenticate(self, request: Request) -> str:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if user and self.config.users.get(user) == password:
                return user
        raise SandboxApiError(
            401,
            "User Not Authenticated",
            fields={"detail": "Required to provide Auth information"},
            headers={"WWW-Authenticate": 'BASIC realm="Service-now"'},
        )

    def shown(self, record: dict[str, str], fields: str, display: str) -> dict[str, Any]:
        wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else list(record)
        choices = CHANGE_CHOICES if record.get("sys_class_name") == CHANGE_TABLE else CHOICES
        out: dict[str, Any] = {}
        for name in wanted:
            if name not in record:
                continue
            value = record[name]
            label = choices.get(name, {}).get(value, value)
            if display == "true":
                out[name] = label
            elif display == "all":
                out[name] = {"display_value": label, "value": value}
            else:
                out[name] = value
        return out

    # --- the API ------------------------------------------------------------------------

    def add_routes(self, app: FastAPI) -> None:
        tag: list[Any] = ["Table API"]

        @app.get("/api/now/table/{table}", tags=tag)
        async def list_records(request: Request, table: str) -> Response:
            self.authenticate(request)
            params = request.query_params
            rows = list(self.table(table).values())
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
                {"result": [self.shown(r, fields, display) for r in page_rows]}, headers=headers
            )

        @app.get("/api/now/table/{table}/{sys_id}", tags=tag)
        async def get_record(request: Request, table: str, sys_id: str) -> Response:
            self.authenticate(request)
            params = request.query_params
            record = self.record(table, sys_id)
            display = params.get("sysparm_display_value", "false").lower()
            return JSONResponse(
                {"result": self.shown(record, params.get("sysparm_fields", ""), display)}
            )

        @app.post("/api/now/table/{table}", tags=tag, status_code=201)
        async def create_record(request: Request, table: str) -> Response:
            user = self.authenticate(request)
            self.table(table)
            record = self.create(table, await self._body(request), user)
            location = f"{request.url.remove_query_params([])}/{record['sys_id']}"
            return JSONResponse({"result": record}, status_code=201, headers={"Location": location})

        async def update_record(request: Request, table: str, sys_id: str) -> Response:
            user = self.authenticate(request)
            self.record(table, sys_id)
            record = self.update(table, sys_id, await self._body(request), user)
            return JSONResponse({"result": record})

        for method in ("PATCH", "PUT"):
            app.add_api_route(
                "/api/now/table/{table}/{sys_id}", update_record, methods=[method], tags=tag
            )

        @app.delete("/api/now/table/{table}/{sys_id}", tags=tag, status_code=204)
        async def delete_record(request: Request, table: str, sys_id: str) -> Response:
            self.authenticate(request)
            self.record(table, sys_id)
            del self.records[table][sys_id]
            return Response(status_code=204)

        @app.get("/ui", include_in_schema=False)
        async def ui(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            return page(
                "Sandbox ServiceNow: configuration items",
                f"<p><a href='{root}/ui/changes'>Change requests</a></p>{self._ui_body()}",
            )

        self.add_change_routes(app)

    # --- change requests: decisions, webhook, pages --------------------------------------

    async def decide_change(self, sys_id: str, approval: str, body: DecisionBody) -> dict[str, Any]:
        """An approver approves or rejects the change request (and the webhook is called)."""
        record = self.record(CHANGE_TABLE, sys_id)
        if record["state"] in ENDED:
            raise SandboxApiError(
                409, f"{record['number']} is {CHANGE_STATES[record['state']]}: not open"
            )
        changes = {
            "approval": approval,
            "state": "-2" if approval == "approved" else "-5",  # Scheduled, or back to New
        }
        if body.comment:
            changes["comments"] = body.comment
        self.update(CHANGE_TABLE, sys_id, changes, body.user)
        delivery = await self.notify(record)
        return {"result": record, "webhook": delivery}

    async def notify(self, record: dict[str, str]) -> dict[str, Any] | None:
        """POST the record to the webhook (with retries) if one is configured."""
        url = self.config.webhook_url
        if not url:
            return None
        raw = json.dumps(record).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "ServiceNow"}
        if self.config.webhook_secret:
            digest = hmac.new(self.config.webhook_secret.encode(), raw, hashlib.sha256)
            headers["X-Hub-Signature"] = "sha256=" + digest.hexdigest()
        delivery: dict[str, Any] = {
            "number": record["number"],
            "approval": record["approval"],
            "url": url,
            "attempts": [],
            "delivered": False,
        }
        self.deliveries.append(delivery)
        async with httpx.AsyncClient(timeout=self.config.webhook_timeout_s) as client:
            for attempt in range(self.config.webhook_attempts):
                if attempt:
                    await asyncio.sleep(0.2 * 2**attempt)
                try:
                    response = await client.post(url, content=raw, headers=headers)
                    delivery["attempts"].append({"status": response.status_code})
                    if response.is_success:
                        delivery["delivered"] = True
                        break
                    if response.status_code < 500 and response.status_code != 429:
                        break
                except httpx.HTTPError as exc:
                    delivery["attempts"].append({"error": f"{type(exc).__name__}: {exc}"})
        return delivery

    def add_change_routes(self, app: FastAPI) -> None:
        tag: list[Any] = ["servicenow sandbox control"]

        @app.post("/sandbox/change_request/{sys_id}/approve", tags=tag)
        async def approve(sys_id: str, body: DecisionBody) -> dict[str, Any]:
            return await self.decide_change(sys_id, "approved", body)

        @app.post("/sandbox/change_request/{sys_id}/reject", tags=tag)
        async def reject(sys_id: str, body: DecisionBody) -> dict[str, Any]:
            return await self.decide_change(sys_id, "rejected", body)

        @app.post("/ui/changes/{sys_id}/decide", include_in_schema=False)
        async def decide_form(sys_id: str, request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            approval = "rejected" if form.get("approval") == "rejected" else "approved"
            body = DecisionBody(
                user=form.get("user") or "sandbox-approver", comment=form.get("comment") or None
            )
            await self.decide_change(sys_id, approval, body)
            root = request.scope.get("root_path", "")
            return RedirectResponse(f"{root}/change_request.do?sys_id={sys_id}", status_code=303)

        @app.get("/ui/changes", include_in_schema=False)
        async def changes(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            return page("Sandbox ServiceNow: change requests", self._changes_body(root))

        @app.get("/change_request.do", include_in_schema=False)
        async def change_form(request: Request, sys_id: str = "") -> Response:
            root = request.scope.get("root_path", "")
            record = self.record(CHANGE_TABLE, sys_id)
            rows = "".join(
                f"<tr><th>{esc(k)}</th><td>{esc(CHANGE_CHOICES.get(k, {}).get(v, v))}</td></tr>"
                for k, v in record.items()
                if v and k != "description"
            )
            return page(
                f"{record['number']}: {record['short_description']}",
                f"<p><a href='{root}/ui/changes'>all change requests</a></p>"
                f"{_decision_form(root, record)}<table>{rows}</table>"
                f"<h2>Description</h2><pre>{esc(record['description'])}</pre>",
            )

    def _changes_body(self, root: str) -> str:
        records = sorted(
            self.records.get(CHANGE_TABLE, {}).values(),
            key=lambda r: r["number"],
            reverse=True,
        )
        rows = "".join(
            f"<tr><td><a href='{root}/change_request.do?sys_id={esc(r['sys_id'])}'>"
            f"{esc(r['number'])}</a></td><td>{esc(r['short_description'])}</td>"
            f"<td>{esc(CHANGE_STATES.get(r['state'], r['state']))}</td>"
            f"<td>{esc(APPROVALS.get(r['approval'], r['approval']))}</td>"
            f"<td>{esc(RISKS.get(r['risk'], r['risk']))}</td><td>{esc(r['type'])}</td>"
            f"<td>{esc(r['start_date'])} - {esc(r['end_date'])}</td>"
            f"<td>{esc(r['close_code'])}</td><td>{_decision_form(root, r)}</td></tr>"
            for r in records
        )
        hook = esc(self.config.webhook_url or "none configured")
        empty = "<tr><td colspan='9'>No change requests yet.</td></tr>"
        return (
            f"<p>Webhook: {hook}. <a href='{root}/ui'>Configuration items</a></p>"
            "<table><tr><th>Number</th><th>Short description</th><th>State</th>"
            "<th>Approval</th><th>Risk</th><th>Type</th><th>Planned</th><th>Close code</th>"
            f"<th></th></tr>{rows or empty}</table>"
        )

    async def _body(self, request: Request) -> Any:
        try:
            return await json_body(request, empty={})
        except SandboxApiError as exc:
            raise SandboxApiError(
                400,
                "Exception while reading request",
                fields={"detail": "The payload is not valid JSON."},
            ) from exc

    def _ui_body(self) -> str:
        rows = []
        for table, records in sorted(self.records.items()):
            for r in sorted(records.values(), key=lambda r: r["sys_created_on"], reverse=True):
                status = INSTALL_STATUS.get(r["install_status"], r["install_status"])
                badge = "bad" if r["install_status"] == "7" else "ok"
                extra = "".join(
                    f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>"
                    for k, v in r.items()
                    if v and k not in ("name", "install_status")
                )
                rows.append(
                    f"<tr><td>{esc(table)}</td><td>{esc(r['name'])}</td>"
                    f"<td><span class='badge {badge}'>{esc(status)}</span></td>"
                    f"<td><code>{esc(r['correlation_id'])}</code></td>"
                    f"<td>{esc(r['sys_updated_on'])}</td><td>{esc(r['sys_mod_count'])}</td>"
                    f"<td><details><summary><code>{esc(r['sys_id'])}</code></summary>"
                    f"<table>{extra}</table></details></td></tr>"
                )
        empty = "<tr><td colspan='7'>No configuration items yet.</td></tr>"
        return (
            f"<p>{sum(len(t) for t in self.records.values())} CI(s). Table API at "
            "<code>api/now/table/{class}</code>, Basic auth.</p>"
            "<table><tr><th>Class</th><th>Name</th><th>Install status</th>"
            "<th>Correlation id</th><th>Updated</th><th>Updates</th><th>sys_id</th></tr>"
            f"{''.join(rows) or empty}</table>"
        )


def _change_model(record: dict[str, str], before: dict[str, str]) -> None:
    """What the normal change model does on a write: Assess asks for the approval; a
    closed or canceled change is no longer active."""
    moved_to_assess = record["state"] == "-4" and before.get("state") != "-4"
    if moved_to_assess and record["approval"] == "not requested":
        record["approval"] = "requested"
    record["active"] = "false" if record["state"] in ENDED else "true"


def _decision_form(root: str, record: dict[str, str]) -> str:
    if record["approval"] != "requested" or record["state"] in ENDED:
        return ""
    return (
        f"<form method='post' action='{root}/ui/changes/{esc(record['sys_id'])}/decide'>"
        "<input name='comment' placeholder='comment'> "
        "<button name='approval' value='approved'>Approve</button>"
        "<button name='approval' value='rejected'>Reject</button></form>"
    )

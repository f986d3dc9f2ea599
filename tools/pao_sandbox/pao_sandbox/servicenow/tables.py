"""The ServiceNow sandbox's records (CIs and change requests, by table) and the Table
API's model of them: columns, reading, writing with the change model, authentication,
which fields an answer shows."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import Request
from pydantic import BaseModel

from pao_sandbox.common import SandboxSystem, json_body
from pao_sandbox.errors import SandboxApiError
from pao_sandbox.servicenow.config import (
    CHANGE_CHOICES,
    CHANGE_COLUMNS,
    CHANGE_DEFAULTS,
    CHANGE_TABLE,
    CHOICES,
    CI_COLUMNS,
    CLASS_COLUMNS,
    DEFAULTS,
    SYSTEM_COLUMNS,
    ServiceNowConfig,
    change_model,
    sn_time,
    sn_value,
)

if TYPE_CHECKING:
    pass


class ServiceNowTables(SandboxSystem[ServiceNowConfig]):
    """Records by table and what the Table API does with them."""

    name: ClassVar[str] = "servicenow"
    title: ClassVar[str] = "ServiceNow (CMDB, change requests)"
    config_model: ClassVar[type[BaseModel]] = ServiceNowConfig

    def reset_state(self) -> None:
        self.records: dict[str, dict[str, dict[str, str]]] = {}  # table -> sys_id -> record
        self.numbers = 10000  # change_request numbers: CHG0010001, ...
        self.deliveries: list[dict[str, Any]] = []

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        detail = fields.get("detail") if fields else None
        return {"error": {"message": message, "detail": detail}, "status": "failure"}

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
            change_model(record, {})
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
                change_model(record, before)
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

    async def request_body(self, request: Request) -> Any:
        try:
            return await json_body(request, empty={})
        except SandboxApiError as exc:
            raise SandboxApiError(
                400,
                "Exception while reading request",
                fields={"detail": "The payload is not valid JSON."},
            ) from exc

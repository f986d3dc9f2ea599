"""The ServiceNow sandbox, put together: records and the Table API's model (``tables``),
change request decisions (``changes``), the API's routes (``routes``) and its own pages
(``ui``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pao_sandbox.servicenow.changes import ServiceNowChanges
from pao_sandbox.servicenow.routes import add_table_routes
from pao_sandbox.servicenow.ui import add_change_routes, add_ci_routes


class ServiceNowSandbox(ServiceNowChanges):
    """A ServiceNow instance (CMDB and change requests), mounted at ``/servicenow``."""

    def dump_state(self) -> dict[str, Any]:
        return {
            "records": {t: list(rows.values()) for t, rows in self.records.items()},
            "webhook_deliveries": self.deliveries,
        }

    def add_routes(self, app: FastAPI) -> None:
        add_table_routes(app, self)
        add_ci_routes(app, self)
        add_change_routes(app, self)

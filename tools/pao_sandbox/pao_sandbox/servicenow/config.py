"""The ServiceNow sandbox's vocabulary: the CI and change request columns, their choices
and defaults, its config, ServiceNow's value formats and the normal change model."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from pao_sandbox.common import utcnow

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


def change_model(record: dict[str, str], before: dict[str, str]) -> None:
    """What the normal change model does on a write: Assess asks for the approval; a
    closed or canceled change is no longer active."""
    moved_to_assess = record["state"] == "-4" and before.get("state") != "-4"
    if moved_to_assess and record["approval"] == "not requested":
        record["approval"] = "requested"
    record["active"] = "false" if record["state"] in ENDED else "true"

"""The JIRA sandbox's vocabulary: its config, the fixed tables (issue types, priorities,
resolutions, statuses, transitions, fields) and JIRA's value formats (timestamps, ADF)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from pao_sandbox.common import (
    utcnow,
)

ISSUE_TYPES = {
    "Epic": "10000",
    "Story": "10001",
    "Task": "10002",
    "Bug": "10004",
    "Service Request": "10005",
}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
RESOLUTIONS = {
    "Done": "10000",
    "Won't Do": "10001",
    "Duplicate": "10002",
    "Cannot Reproduce": "10003",
    "Declined": "10004",
}
STATUSES = {
    "To Do": ("10000", {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"}),
    "In Progress": (
        "3",
        {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    ),
    "Done": ("10001", {"id": 3, "key": "done", "colorName": "green", "name": "Done"}),
}
TRANSITIONS = {"11": "To Do", "21": "In Progress", "31": "Done"}
SYSTEM_FIELDS = [
    "summary",
    "description",
    "labels",
    "components",
    "priority",
    "assignee",
    "reporter",
    "creator",
    "issuetype",
    "project",
    "status",
    "resolution",
    "resolutiondate",
    "created",
    "updated",
    "comment",
]
JQL_FIELDS = {
    "key",
    "issuekey",
    "id",
    "issue",
    "project",
    "summary",
    "description",
    "text",
    "labels",
    "component",
    "status",
    "statuscategory",
    "resolution",
    "issuetype",
    "type",
    "priority",
    "assignee",
    "reporter",
    "created",
    "updated",
    "resolutiondate",
    "resolved",
}


class JiraProject(BaseModel):
    key: str
    name: str
    components: list[str] = Field(default_factory=list)


class JiraConfig(BaseModel):
    deployment: Literal["Server", "Cloud"] = "Server"
    pat_tokens: list[str] = Field(default_factory=lambda: ["sandbox-jira-pat"])
    pat_user: str = Field("pao-bot", description="Who a PAT authenticates as")
    basic_users: dict[str, str] = Field(
        default_factory=lambda: {"pao@example.com": "sandbox-jira-token"},
        description="email -> API token accepted with Basic auth",
    )
    projects: list[JiraProject] = Field(
        default_factory=lambda: [
            JiraProject(key="PLAT", name="Platform", components=["Databases", "Networking"]),
            JiraProject(key="OPS", name="Operations", components=["Access", "Hardware"]),
        ]
    )
    auto_projects: bool = Field(True, description="Unknown project keys spring into existence")
    custom_fields: dict[str, str] = Field(
        default_factory=lambda: {
            "customfield_10010": "Team",
            "customfield_10011": "Cost Center",
            "customfield_10012": "PAO Request",
        }
    )
    auto_custom_fields: bool = Field(True, description="Accept any customfield_<n>")
    auto_issue_types: bool = Field(
        True, description="Unknown issue type names (e.g. 'Firewall Change') spring into existence"
    )
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_events: list[str] = Field(default_factory=lambda: ["jira:issue_updated"])
    webhook_attempts: int = Field(3, ge=1, le=10)
    webhook_timeout_s: float = 5.0


class ResolveBody(BaseModel):
    resolution: str = "Done"
    comment: str | None = None
    user: str | None = Field(None, description="Who resolves it (default: sandbox-agent)")


def jira_time(moment: Any = None) -> str:
    """``2024-05-01T12:00:00.000+0000``: JIRA's timestamp format."""
    moment = moment or utcnow()
    return str(moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000")


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document (what API v3 reads and writes)."""
    paragraphs = [p for p in text.split("\n\n")] if text else []
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": p}] if p else []}
            for p in paragraphs
        ],
    }


def adf_text(node: Any) -> str:
    """An Atlassian Document back to plain text."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [adf_text(child) for child in node.get("content", [])]
    return ("\n\n" if node.get("type") == "doc" else "").join(parts)


def known_name(ref: Any, table: dict[str, str]) -> str | None:
    """``{"name": ...}`` or ``{"id": ...}`` (or a bare name) to a known name."""
    if isinstance(ref, dict):
        if "name" in ref:
            ref = ref["name"]
        elif "id" in ref:
            by_id = {v: k for k, v in table.items()}
            return by_id.get(str(ref["id"]))
    return ref if isinstance(ref, str) and ref in table else None


def requested_fields(value: Any, default: list[str]) -> list[str]:
    if not value:
        return default
    items = value if isinstance(value, list) else [value]
    return [f.strip() for item in items for f in str(item).split(",") if f.strip()] or default

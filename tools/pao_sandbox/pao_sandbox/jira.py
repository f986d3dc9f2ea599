"""JIRA sandbox: the REST API v2 (and v3 on the Cloud flavour) the ``jira`` library uses.

Mounted at ``/jira``; point ``jira.JIRA(server=...)`` at ``http://HOST:PORT/jira``.

Real API (``{v}`` = ``2`` or ``latest``; ``3`` too when ``deployment`` is ``Cloud``)::

    GET  /rest/api/{v}/serverInfo                 anonymous; versionNumbers, deploymentType
    GET  /rest/api/{v}/myself
    GET  /rest/api/{v}/project[/{idOrKey}]        ?expand=issueTypes
    GET  /rest/api/{v}/issuetype | priority | resolution | status | field
    POST /rest/api/{v}/issue                      201 {id, key, self}; 400 errorMessages/errors
    GET  /rest/api/{v}/issue/{idOrKey}            ?fields=a,b
    PUT  /rest/api/{v}/issue/{idOrKey}            204 (fields: labels, summary, ...)
    GET|POST /rest/api/{v}/issue/{idOrKey}/transitions   POST 204
    GET|POST /rest/api/{v}/issue/{idOrKey}/comment       POST 201
    GET|POST /rest/api/{v}/search                 Server flavour (Cloud answers 410 Gone)
    GET|POST /rest/api/{v}/search/jql             Cloud flavour (nextPageToken paging)

Auth: ``Authorization: Bearer <PAT>`` (one of ``pat_tokens``) or Basic ``email:token``
(``basic_users``); anything else is 401.  Workflow: To Do -> In Progress -> Done, with
transitions ``11`` (To Do), ``21`` (In Progress) and ``31`` (Done, sets a resolution).

Sandbox side (not in real JIRA)::

    POST /sandbox/issues/{key}/resolve  {"resolution": "Done"|"Won't Do"|..., "comment": "..."}
    GET  /ui                            ticket list with Done / Won't Do buttons
    GET  /browse/{key}                  the ticket's page (the browse URL executors report)

Every status change (by the API or the sandbox) POSTs a ``jira:issue_updated`` webhook
with ``issue`` and ``changelog`` to ``webhook_url`` when one is configured, signed like
Jira Cloud's admin webhooks: ``X-Hub-Signature: sha256=<HMAC-SHA256(secret, raw body)>``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from enum import Enum
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from pao_sandbox import jql
from pao_sandbox.common import (
    SandboxSystem,
    esc,
    json_body,
    page,
    system_base_url,
    utcnow,
)
from pao_sandbox.errors import SandboxApiError

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


class JiraSandbox(SandboxSystem[JiraConfig]):
    name: ClassVar[str] = "jira"
    title: ClassVar[str] = "JIRA"
    config_model: ClassVar[type[BaseModel]] = JiraConfig

    def reset_state(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.next_issue_id = 10000
        self.next_comment_id = 10100
        self.next_changelog_id = 10200
        self.deliveries: list[dict[str, Any]] = []
        self.extra_projects: dict[str, JiraProject] = {}
        self.extra_issue_types: dict[str, str] = {}

    def issue_types(self) -> dict[str, str]:
        """Issue type name -> id: the standard ones and those created on first use."""
        return {**ISSUE_TYPES, **self.extra_issue_types}

    def issue_type_named(self, ref: Any) -> str | None:
        name = _named(ref, self.issue_types())
        wanted = ref.get("name") if isinstance(ref, dict) else ref
        if name is None and self.config.auto_issue_types and isinstance(wanted, str) and wanted:
            self.extra_issue_types[wanted] = str(10100 + len(self.extra_issue_types))
            name = wanted
        return name

    def dump_state(self) -> dict[str, Any]:
        return {"issues": list(self.issues.values()), "webhook_deliveries": self.deliveries}

    def error_body(self, status: int, message: str, fields: dict[str, str]) -> Any:
        return {"errorMessages": [message] if message else [], "errors": fields}

    # --- lookups ------------------------------------------------------------------------

    @property
    def cloud(self) -> bool:
        return self.config.deployment == "Cloud"

    def projects(self) -> dict[str, JiraProject]:
        known = {p.key: p for p in self.config.projects}
        return {**known, **self.extra_projects}

    def project_id(self, key: str) -> str:
        keys = sorted(self.projects())
        return str(10000 + keys.index(key)) if key in keys else "0"

    def find_project(self, ref: Any) -> JiraProject | None:
        projects = self.projects()
        if isinstance(ref, dict):
            ref = ref.get("key") or ref.get("id")
        ref = str(ref or "")
        if ref in projects:
            return projects[ref]
        for key in projects:
            if self.project_id(key) == ref:
                return projects[key]
        if self.config.auto_projects and re.fullmatch(r"[A-Z][A-Z0-9_]{1,9}", ref):
            self.extra_projects[ref] = JiraProject(key=ref, name=ref.title())
            return self.extra_projects[ref]
        return None

    def issue(self, id_or_key: str) -> dict[str, Any]:
        key = self.ids.get(id_or_key, id_or_key)
        if key not in self.issues:
            raise SandboxApiError(
                404, "Issue does not exist or you do not have permission to see it."
            )
        return self.issues[key]

    def check_version(self, version: str) -> None:
        if version not in ("2", "latest") and not (version == "3" and self.cloud):
            raise SandboxApiError(404, "null for uri: /rest/api/" + version)

    def authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials in self.config.pat_tokens:
            return self.config.pat_user
        if scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                email, token = "", ""
            if email and self.config.basic_users.get(email) == token:
                return email
        raise SandboxApiError(
            401,
            "You are not authenticated. Authentication required to perform this operation.",
            headers={
                "WWW-Authenticate": 'Basic realm="protected-area"',
                "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
            },
        )

    # --- representations ----------------------------------------------------------------

    def user_json(self, base: str, who: str | None) -> dict[str, Any] | None:
        if who is None:
            return None
        display = who.split("@")[0].replace(".", " ").title()
        email = who if "@" in who else f"{who}@example.com"
        if self.cloud:
            # People sign in by email; fields name them by account id.
            account = hashlib.sha1(who.encode()).hexdigest()[:24] if "@" in who else who
            return {
                "self": f"{base}/rest/api/2/user?accountId={account}",
                "accountId": account,
                "accountType": "atlassian",
                "emailAddress": email,
                "displayName": display,
                "active": True,
                "timeZone": "UTC",
            }
        return {
            "self": f"{base}/rest/api/2/user?username={who}",
            "name": who,
            "key": who,
            "emailAddress": email,
            "displayName": display,
            "active": True,
            "timeZone": "UTC",
        }

    def status_json(self, base: str, name: str) -> dict[str, Any]:
        status_id, category = STATUSES[name]
        return {
            "self": f"{base}/rest/api/2/status/{status_id}",
            "description": "",
            "name": name,
            "id": status_id,
            "iconUrl": f"{base}/images/icons/status_generic.gif",
            "statusCategory": {
                "self": f"{base}/rest/api/2/statuscategory/{category['id']}",
                **category,
            },
        }

    def project_json(self, base: str, project: JiraProject) -> dict[str, Any]:
        pid = self.project_id(project.key)
        body: dict[str, Any] = {
            "expand": "description,lead,issueTypes,url,projectKeys",
            "self": f"{base}/rest/api/2/project/{pid}",
            "id": pid,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "components": [self.component_json(base, project, c) for c in project.components],
        }
        # JIRA lists issue types whether or not ``expand=issueTypes`` asks for them.
        body["issueTypes"] = [self.issuetype_json(base, name) for name in self.issue_types()]
        return body

    def component_json(self, base: str, project: JiraProject, name: str) -> dict[str, Any]:
        cid = str(10000 + (project.components.index(name) if name in project.components else 99))
        return {"self": f"{base}/rest/api/2/component/{cid}", "id": cid, "name": name}

    def issuetype_json(self, base: str, name: str) -> dict[str, Any]:
        tid = self.issue_types()[name]
        return {
            "self": f"{base}/rest/api/2/issuetype/{tid}",
            "id": tid,
            "name": name,
            "description": "",
            "subtask": False,
            "iconUrl": "",
        }

    def text_out(self, value: Any, version: str) -> Any:
        if value is None:
            return None
        return adf(adf_text(value)) if version == "3" else adf_text(value)

    def comment_json(
        self, base: str, issue: dict[str, Any], comment: dict[str, Any], version: str
    ) -> dict[str, Any]:
        author = self.user_json(base, comment["author"])
        return {
            "self": f"{base}/rest/api/{version}/issue/{issue['id']}/comment/{comment['id']}",
            "id": comment["id"],
            "author": author,
            "updateAuthor": author,
            "body": self.text_out(comment["body"], version),
            "created": comment["created"],
            "updated": comment["created"],
        }

    def issue_json(
        self, base: str, issue: dict[str, Any], version: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        project = self.projects()[issue["project"]]
        resolution = issue["resolution"]
        comments = [self.comment_json(base, issue, c, version) for c in issue["comments"]]
        all_fields: dict[str, Any] = {
            "summary": issue["summary"],
            "description": self.text_out(issue["description"], version),
            "labels": list(issue["labels"]),
            "components": [self.component_json(base, project, c) for c in issue["components"]],
            "priority": (
                {
                    "self": f"{base}/rest/api/2/priority/{PRIORITIES[issue['priority']]}",
                    "id": PRIORITIES[issue["priority"]],
                    "name": issue["priority"],
                }
                if issue["priority"]
                else None
            ),
            "assignee": self.user_json(base, issue["assignee"]),
            "reporter": self.user_json(base, issue["reporter"]),
            "creator": self.user_json(base, issue["reporter"]),
            "issuetype": self.issuetype_json(base, issue["issuetype"]),
            "project": {
                k: v
                for k, v in self.project_json(base, project).items()
                if k in ("self", "id", "key", "name", "projectTypeKey")
            },
            "status": self.status_json(base, issue["status"]),
            "resolution": (
                {
                    "self": f"{base}/rest/api/2/resolution/{RESOLUTIONS[resolution]}",
                    "id": RESOLUTIONS[resolution],
                    "name": resolution,
                    "description": "",
                }
                if resolution
                else None
            ),
            "resolutiondate": issue["resolutiondate"],
            "created": issue["created"],
            "updated": issue["updated"],
            "comment": {
                "comments": comments,
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            },
            **issue["custom"],
        }
        wanted = fields or ["*all"]
        if not any(f in ("*all", "*navigable") for f in wanted):
            all_fields = {k: v for k, v in all_fields.items() if k in wanted}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": issue["id"],
            "self": f"{base}/rest/api/{version}/issue/{issue['id']}",
            "key": issue["key"],
            "fields": all_fields,
        }

    # --- validation ---------------------------------------------------------------------

    def text_in(self, value: Any, version: str, field: str, errors: dict[str, str]) -> Any:
        if value is None:
            return None
        if version == "3":
            if not (isinstance(value, dict) and value.get("type") == "doc"):
                errors[field] = (
                    "Operation value must be an Atlassian Document (see the Atlassian "
                    "Document Format)"
                )
            return value
        if not isinstance(value, str):
            errors[field] = "Operation value must be a string"
        return value

    def user_in(self, value: Any, errors: dict[str, str], field: str) -> str | None:
        if value is None:
            return None
        ref = value.get("accountId" if self.cloud else "name") if isinstance(value, dict) else None
        if not isinstance(ref, str) or not ref:
            wanted = "accountId" if self.cloud else "name"
            errors[field] = f"Specify a valid '{wanted}' for {field.title()}"
            return None
        return ref

    def validate_fields(self, fields: Any, version: str, *, creating: bool) -> dict[str, Any]:
        """JIRA's create-issue validation: all field errors at once, as ``errors``."""
        if not isinstance(fields, dict):
            raise SandboxApiError(400, "fields is required", fields={})
        errors: dict[str, str] = {}
        out: dict[str, Any] = {"custom": {}}
        project = None
        if creating or "project" in fields:
            if not fields.get("project"):
                errors["project"] = "project is required"
            else:
                project = self.find_project(fields["project"])
                if project is None:
                    errors["project"] = "valid project is required"
                else:
                    out["project"] = project.key
        if creating or "issuetype" in fields:
            ref = fields.get("issuetype")
            if not ref:
                errors["issuetype"] = "issue type is required"
            else:
                name = self.issue_type_named(ref)
                if name is None:
                    errors["issuetype"] = "The issue type selected is invalid."
                else:
                    out["issuetype"] = name
        if creating or "summary" in fields:
            summary = fields.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errors["summary"] = "You must specify a summary of the issue."
            elif len(summary) > 255:
                errors["summary"] = "Summary must be less than 255 characters."
            else:
                out["summary"] = summary
        if "description" in fields:
            out["description"] = self.text_in(fields["description"], version, "description", errors)
        if "labels" in fields:
            labels = fields["labels"] or []
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                errors["labels"] = "Field 'labels' must be an array of strings"
            elif any(" " in x for x in labels):
                errors["labels"] = "The label '{}' contains spaces which is invalid.".format(
                    next(x for x in labels if " " in x)
                )
            else:
                out["labels"] = labels
        if "components" in fields:
            names = []
            for ref in fields["components"] or []:
                name = ref.get("name") if isinstance(ref, dict) else None
                if project is not None and name and name not in project.components:
                    if self.config.auto_projects:
                        project.components.append(name)
                    else:
                        errors["components"] = f"Component name '{name}' is not valid"
                names.append(name or str(ref))
            out["components"] = names
        if "priority" in fields:
            if fields["priority"] is None:
                out["priority"] = None
            else:
                name = _named(fields["priority"], PRIORITIES)
                if name is None:
                    errors["priority"] = "The priority selected is invalid."
                out["priority"] = name
        for field in ("assignee", "reporter"):
            if field in fields:
                out[field] = self.user_in(fields[field], errors, field)
        for field, value in fields.items():
            if field in out or field in (
                "project",
                "issuetype",
                "summary",
                "description",
                "labels",
                "components",
                "priority",
            ):
                continue
            known = field in self.config.custom_fields or (
                self.config.auto_custom_fields and re.fullmatch(r"customfield_\d+", field)
            )
            if not known:
                errors[field] = (
                    f"Field '{field}' cannot be set. It is not on the appropriate screen, "
                    "or unknown."
                )
            else:
                out["custom"][field] = value
        if errors:
            raise SandboxApiError(400, fields=errors)
        return out

    # --- behaviour ----------------------------------------------------------------------

    def create(self, values: dict[str, Any], reporter: str) -> dict[str, Any]:
        project = values["project"]
        self.counters[project] = self.counters.get(project, 0) + 1
        key = f"{project}-{self.counters[project]}"
        issue_id = str(self.next_issue_id)
        self.next_issue_id += 1
        now = jira_time()
        issue = {
            "id": issue_id,
            "key": key,
            "project": project,
            "issuetype": values["issuetype"],
            "summary": values["summary"],
            "description": values.get("description"),
            "labels": values.get("labels", []),
            "components": values.get("components", []),
            "priority": values.get("priority", "Medium"),
            "assignee": values.get("assignee"),
            "reporter": values.get("reporter") or reporter,
            "status": "To Do",
            "resolution": None,
            "resolutiondate": None,
            "created": now,
            "updated": now,
            "custom": values["custom"],
            "comments": [],
            "changelog": [],
        }
        self.issues[key] = issue
        self.ids[issue_id] = key
        return issue

    def add_comment(self, issue: dict[str, Any], body: Any, author: str) -> dict[str, Any]:
        comment = {
            "id": str(self.next_comment_id),
            "body": body,
            "author": author,
            "created": jira_time(),
        }
        self.next_comment_id += 1
        issue["comments"].append(comment)
        issue["updated"] = comment["created"]
        return comment

    def move(self, issue: dict[str, Any], status: str, resolution: str | None) -> dict[str, Any]:
        """Change status/resolution; returns the changelog entry."""
        items = []
        old_status, old_resolution = issue["status"], issue["resolution"]
        if resolution != old_resolution:
            items.append(
                {
                    "field": "resolution",
                    "fieldtype": "jira",
                    "fieldId": "resolution",
                    "from": RESOLUTIONS.get(old_resolution or ""),
                    "fromString": old_resolution,
                    "to": RESOLUTIONS.get(resolution or ""),
                    "toString": resolution,
                }
            )
        if status != old_status:
            items.append(
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": STATUSES[old_status][0],
                    "fromString": old_status,
                    "to": STATUSES[status][0],
                    "toString": status,
                }
            )
        issue["status"] = status
        issue["resolution"] = resolution
        issue["resolutiondate"] = jira_time() if resolution else None
        issue["updated"] = jira_time()
        changelog = {"id": str(self.next_changelog_id), "items": items}
        self.next_changelog_id += 1
        issue["changelog"].append(changelog)
        return changelog

    def transition(
        self, issue: dict[str, Any], transition_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        if transition_id not in TRANSITIONS or TRANSITIONS[transition_id] == issue["status"]:
            raise SandboxApiError(
                400, f"Transition id '{transition_id}' is not valid for this issue."
            )
        target = TRANSITIONS[transition_id]
        resolution = None
        for field, value in fields.items():
            if field != "resolution" or target != "Done":
                raise SandboxApiError(
                    400,
                    fields={
                        field: f"Field '{field}' cannot be set. It is not on the appropriate "
                        "screen, or unknown."
                    },
                )
            resolution = _named(value, RESOLUTIONS)
            if resolution is None:
                raise SandboxApiError(
                    400, fields={"resolution": "The resolution selected is invalid."}
                )
        if target == "Done":
            resolution = resolution or "Done"
        return self.move(issue, target, resolution)

    async def notify(
        self,
        base: str,
        issue: dict[str, Any],
        changelog: dict[str, Any] | None,
        user: str,
        comment: dict[str, Any] | None = None,
        event: str = "jira:issue_updated",
    ) -> dict[str, Any] | None:
        """POST the webhook (with retries) if one is configured; returns the delivery record."""
        url = self.config.webhook_url
        if not url or event not in self.config.webhook_events:
            return None
        payload: dict[str, Any] = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": event,
            "issue_event_type_name": "issue_generic"
            if event.endswith("updated")
            else "issue_created",
            "user": self.user_json(base, user),
            "issue": self.issue_json(base, issue, "2"),
        }
        if changelog is not None:
            payload["changelog"] = changelog
        if comment is not None:
            payload["comment"] = self.comment_json(base, issue, comment, "2")
        raw = json.dumps(payload).encode()
        delivery_id = f"{len(self.deliveries) + 1}"
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": delivery_id,
        }
        if self.config.webhook_secret:
            digest = hmac.new(self.config.webhook_secret.encode(), raw, hashlib.sha256)
            headers["X-Hub-Signature"] = "sha256=" + digest.hexdigest()
        delivery: dict[str, Any] = {
            "id": delivery_id,
            "event": event,
            "issue": issue["key"],
            "url": url,
            "attempts": [],
            "delivered": False,
            "payload": payload,
        }
        self.deliveries.append(delivery)
        async with httpx.AsyncClient(timeout=self.config.webhook_timeout_s) as client:
            for attempt in range(self.config.webhook_attempts):
                if attempt:
                    headers["X-Atlassian-Webhook-Retry"] = str(attempt)
                    await asyncio.sleep(0.2 * 2**attempt)
                try:
                    response = await client.post(url, content=raw, headers=headers)
                    delivery["attempts"].append({"status": response.status_code})
                    if response.is_success:
                        delivery["delivered"] = True
                        break
                    if (
                        response.status_code not in (408, 409, 425, 429)
                        and response.status_code < 500
                    ):
                        break
                except httpx.HTTPError as exc:
                    delivery["attempts"].append({"error": f"{type(exc).__name__}: {exc}"})
        return delivery

    async def resolve(self, base: str, key: str, body: ResolveBody) -> dict[str, Any]:
        issue = self.issue(key)
        if body.resolution not in RESOLUTIONS:
            raise SandboxApiError(
                400,
                fields={
                    "resolution": f"unknown resolution {body.resolution!r}; "
                    f"one of {sorted(RESOLUTIONS)}"
                },
            )
        user = body.user or "sandbox-agent"
        comment = self.add_comment(issue, body.comment, user) if body.comment else None
        changelog = self.move(issue, "Done", body.resolution)
        delivery = await self.notify(base, issue, changelog, user, comment)
        return {
            "key": issue["key"],
            "status": issue["status"],
            "resolution": issue["resolution"],
            "webhook": delivery,
        }

    # --- routes -------------------------------------------------------------------------

    def add_routes(self, app: FastAPI) -> None:
        api = "/rest/api/{version}"

        @app.get(api + "/serverInfo")
        async def server_info(version: str, request: Request) -> dict[str, Any]:
            self.check_version(version)
            numbers = [1001, 0, 0] if self.cloud else [9, 12, 0]
            return {
                "baseUrl": system_base_url(request),
                "version": ".".join(map(str, numbers)),
                "versionNumbers": numbers,
                "deploymentType": self.config.deployment,
                "buildNumber": 100000,
                "buildDate": "2024-01-01T00:00:00.000+0000",
                "serverTime": jira_time(),
                "scmInfo": "sandbox",
                "serverTitle": "PAO sandbox JIRA",
            }

        @app.get(api + "/myself")
        async def myself(version: str, request: Request) -> Any:
            self.check_version(version)
            return self.user_json(system_base_url(request), self.authenticate(request))

        @app.get(api + "/project")
        async def projects(version: str, request: Request) -> list[dict[str, Any]]:
            self.check_version(version)
            self.authenticate(request)
            base = system_base_url(request)
            return [self.project_json(base, p) for p in self.projects().values()]

        @app.get(api + "/project/{ref}")
        async def project(version: str, ref: str, request: Request) -> Any:
            self.check_version(version)
            self.authenticate(request)
            found = self.find_project(ref)
            if found is None:
                raise SandboxApiError(404, f"No project could be found with key '{ref}'.")
            return self.project_json(system_base_url(request), found)

        @app.get(api + "/issuetype")
        async def issuetypes(version: str, request: Request) -> list[dict[str, Any]]:
            self.check_version(version)
            self.authenticate(request)
            return [self.issuetype_json(system_base_url(request), n) for n in self.issue_types()]

        @app.get(api + "/priority")
        async def priorities(version: str, request: Request) -> list[dict[str, Any]]:
            self.check_version(version)
            self.authenticate(request)
            base = system_base_url(request)
            return [
                {"self": f"{base}/rest/api/2/priority/{i}", "id": i, "name": n}
                for n, i in PRIORITIES.items()
            ]

        @app.get(api + "/resolution")
        async def resolutions(version: str, request: Request) -> list[dict[str, Any]]:
            self.check_version(version)
            self.authenticate(request)
            base = system_base_url(request)
            return [
                {"self": f"{base}/rest/api/2/resolution/{i}", "id": i, "name": n, "description": ""}
                for n, i in RESOLUTIONS.items()
            ]

        @app.get(api + "/status")
        async def statuses(version: str, request: Request) -> list[dict[str, Any]]:
            self.check_version(version)
            self.authenticate(request)
            return [self.status_json(system_base_url(request), n) for n in STATUSES]

        @app.get(api + "/field")
        async def field_list(version: str, request: Request) -> list[dict[str, Any]]:
            self.check_version(version)
            self.authenticate(request)
            system = [
                {
                    "id": f,
                    "key": f,
                    "name": f.title(),
                    "custom": False,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f],
                }
                for f in SYSTEM_FIELDS
            ]
            custom = [
                {
                    "id": f,
                    "key": f,
                    "name": n,
                    "custom": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{f.split('_')[1]}]", n],
                }
                for f, n in self.config.custom_fields.items()
            ]
            return system + custom

        @app.post(api + "/issue", status_code=201)
        async def create_issue(version: str, request: Request) -> Any:
            self.check_version(version)
            user = self.authenticate(request)
            body = await json_body(request, empty={})
            if not isinstance(body, dict):
                raise SandboxApiError(400, "Can not deserialize instance of the request body")
            values = self.validate_fields(body.get("fields"), version, creating=True)
            issue = self.create(values, user)
            for update in (body.get("update") or {}).get("comment", []):
                self.add_comment(issue, update.get("add", {}).get("body"), user)
            base = system_base_url(request)
            await self.notify(base, issue, None, user, event="jira:issue_created")
            return JSONResponse(
                {
                    "id": issue["id"],
                    "key": issue["key"],
                    "self": f"{base}/rest/api/{version}/issue/{issue['id']}",
                },
                status_code=201,
            )

        @app.get(api + "/issue/{ref}")
        async def get_issue(version: str, ref: str, request: Request, fields: str = "") -> Any:
            self.check_version(version)
            self.authenticate(request)
            wanted = [f for f in fields.split(",") if f] or None
            return self.issue_json(system_base_url(request), self.issue(ref), version, wanted)

        @app.put(api + "/issue/{ref}", status_code=204)
        async def edit_issue(version: str, ref: str, request: Request) -> Response:
            self.check_version(version)
            user = self.authenticate(request)
            issue = self.issue(ref)
            body = await json_body(request, empty={})
            values = self.validate_fields(body.get("fields", {}), version, creating=False)
            issue["custom"].update(values.pop("custom"))
            issue.update(values)
            for update in (body.get("update") or {}).get("labels", []):
                if "add" in update and update["add"] not in issue["labels"]:
                    issue["labels"].append(update["add"])
                if "remove" in update and update["remove"] in issue["labels"]:
                    issue["labels"].remove(update["remove"])
            for update in (body.get("update") or {}).get("comment", []):
                self.add_comment(issue, update.get("add", {}).get("body"), user)
            issue["updated"] = jira_time()
            return Response(status_code=204)

        @app.get(api + "/issue/{ref}/transitions")
        async def get_transitions(version: str, ref: str, request: Request) -> Any:
            self.check_version(version)
            self.authenticate(request)
            issue = self.issue(ref)
            base = system_base_url(request)
            transitions = []
            for tid, target in TRANSITIONS.items():
                if target == issue["status"]:
                    continue
                entry: dict[str, Any] = {
                    "id": tid,
                    "name": target,
                    "hasScreen": False,
                    "isGlobal": True,
                    "isInitial": False,
                    "isConditional": False,
                    "to": self.status_json(base, target),
                }
                if target == "Done":
                    entry["fields"] = {
                        "resolution": {
                            "required": False,
                            "name": "Resolution",
                            "allowedValues": [{"id": i, "name": n} for n, i in RESOLUTIONS.items()],
                        }
                    }
                transitions.append(entry)
            return {"expand": "transitions", "transitions": transitions}

        @app.post(api + "/issue/{ref}/transitions", status_code=204)
        async def do_transition(version: str, ref: str, request: Request) -> Response:
            self.check_version(version)
            user = self.authenticate(request)
            issue = self.issue(ref)
            body = await json_body(request, empty={})
            tid = str(((body or {}).get("transition") or {}).get("id", ""))
            if not tid:
                raise SandboxApiError(400, "Missing 'transition' identifier")
            comment = None
            for update in (body.get("update") or {}).get("comment", []):
                comment = self.add_comment(issue, update.get("add", {}).get("body"), user)
            changelog = self.transition(issue, tid, body.get("fields") or {})
            await self.notify(system_base_url(request), issue, changelog, user, comment)
            return Response(status_code=204)

        @app.get(api + "/issue/{ref}/comment")
        async def comments(version: str, ref: str, request: Request) -> Any:
            self.check_version(version)
            self.authenticate(request)
            issue = self.issue(ref)
            base = system_base_url(request)
            items = [self.comment_json(base, issue, c, version) for c in issue["comments"]]
            return {"startAt": 0, "maxResults": len(items), "total": len(items), "comments": items}

        @app.post(api + "/issue/{ref}/comment", status_code=201)
        async def add_comment(version: str, ref: str, request: Request) -> Any:
            self.check_version(version)
            user = self.authenticate(request)
            issue = self.issue(ref)
            body = await json_body(request, empty={})
            errors: dict[str, str] = {}
            text = self.text_in((body or {}).get("body"), version, "comment", errors)
            if not text:
                errors.setdefault("comment", "Comment body can not be empty!")
            if errors:
                raise SandboxApiError(400, fields=errors)
            comment = self.add_comment(issue, text, user)
            return JSONResponse(
                self.comment_json(system_base_url(request), issue, comment, version), 201
            )

        async def search_args(request: Request) -> dict[str, Any]:
            if request.method == "POST":
                args = await json_body(request, empty={})
                return args if isinstance(args, dict) else {}
            query = request.query_params
            return {k: (query.getlist(k) if k == "fields" else query[k]) for k in query}

        @app.api_route(api + "/search", methods=["GET", "POST"])
        async def search(version: str, request: Request) -> Any:
            self.check_version(version)
            self.authenticate(request)
            if self.cloud:
                raise SandboxApiError(
                    410,
                    "The requested API has been removed. Please migrate to the "
                    "/rest/api/3/search/jql API.",
                )
            args = await search_args(request)
            found = self.search(args.get("jql", ""))
            start = int(args.get("startAt") or 0)
            size = int(args.get("maxResults") or 50)
            fields = _field_list(args.get("fields"), ["*navigable"])
            base = system_base_url(request)
            return {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(found),
                "issues": [
                    self.issue_json(base, i, version, fields) for i in found[start : start + size]
                ],
            }

        @app.api_route(api + "/search/jql", methods=["GET", "POST"])
        async def search_jql(version: str, request: Request) -> Any:
            self.check_version(version)
            self.authenticate(request)
            if not self.cloud:
                raise SandboxApiError(404, "null for uri: /rest/api/2/search/jql")
            args = await search_args(request)
            found = self.search(args.get("jql", ""))
            start = int(args.get("nextPageToken") or 0)
            size = int(args.get("maxResults") or 50)
            fields = _field_list(args.get("fields"), ["id"])
            base = system_base_url(request)
            page_items = found[start : start + size]
            body: dict[str, Any] = {
                "issues": [self.issue_json(base, i, version, fields) for i in page_items],
                "isLast": start + size >= len(found),
            }
            if not body["isLast"]:
                body["nextPageToken"] = str(start + size)
            return body

        self.add_sandbox_routes(app)

    def search(self, query: str) -> list[dict[str, Any]]:
        parsed = jql.parse(query, self.jql_values, self.jql_knows)
        found = [issue for issue in self.issues.values() if parsed.predicate(issue)]
        for field, descending in reversed(parsed.order_by or [("created", True)]):

            def sort_key(issue: dict[str, Any], field: str = field) -> str:
                return (self.jql_values(issue, field) or [""])[0]

            found.sort(key=sort_key, reverse=descending)
        return found

    def jql_knows(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in JQL_FIELDS:
            return True
        if re.fullmatch(r"cf\[\d+\]", lowered) or re.fullmatch(r"customfield_\d+", lowered):
            return True
        return name in self.config.custom_fields.values()

    def jql_values(self, issue: dict[str, Any], name: str) -> list[str] | None:
        lowered = name.lower()
        project = issue["project"]
        simple = {
            "key": [issue["key"]],
            "issuekey": [issue["key"]],
            "id": [issue["id"]],
            "issue": [issue["key"], issue["id"]],
            "project": [project, self.project_id(project), self.projects()[project].name],
            "summary": [issue["summary"]],
            "description": [adf_text(issue["description"])] if issue["description"] else [],
            "labels": issue["labels"],
            "component": issue["components"],
            "status": [issue["status"], STATUSES[issue["status"]][0]],
            "statuscategory": [STATUSES[issue["status"]][1]["name"]],
            "resolution": [issue["resolution"]] if issue["resolution"] else [],
            "issuetype": [issue["issuetype"]],
            "type": [issue["issuetype"]],
            "priority": [issue["priority"]] if issue["priority"] else [],
            "assignee": [issue["assignee"]] if issue["assignee"] else [],
            "reporter": [issue["reporter"]],
            "created": [issue["created"]],
            "updated": [issue["updated"]],
            "resolutiondate": [issue["resolutiondate"]] if issue["resolutiondate"] else [],
            "resolved": [issue["resolutiondate"]] if issue["resolutiondate"] else [],
        }
        if lowered == "text":
            texts = [issue["summary"], adf_text(issue["description"])]
            texts += [adf_text(c["body"]) for c in issue["comments"]]
            return texts
        if lowered in simple:
            return list(simple[lowered])
        match = re.fullmatch(r"(?:cf\[(\d+)\]|customfield_(\d+))", lowered)
        field_id = f"customfield_{match.group(1) or match.group(2)}" if match else None
        if field_id is None:
            field_id = next((f for f, n in self.config.custom_fields.items() if n == name), None)
        if field_id is None:
            return None
        value = issue["custom"].get(field_id)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [
            str(v.get("value", v.get("name", v))) if isinstance(v, dict) else str(v) for v in values
        ]

    # --- sandbox side: resolve API and pages ---------------------------------------------

    def add_sandbox_routes(self, app: FastAPI) -> None:
        tag: list[str | Enum] = ["jira sandbox control"]

        @app.post("/sandbox/issues/{key}/resolve", tags=tag)
        async def resolve(key: str, body: ResolveBody, request: Request) -> dict[str, Any]:
            return await self.resolve(system_base_url(request), key, body)

        @app.post("/ui/issues/{key}/resolve", include_in_schema=False)
        async def resolve_form(key: str, request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            body = ResolveBody(
                resolution=form.get("resolution", "Done"), comment=form.get("comment") or None
            )
            await self.resolve(system_base_url(request), key, body)
            root = request.scope.get("root_path", "")
            return RedirectResponse(f"{root}/browse/{key}", status_code=303)

        @app.get("/ui", include_in_schema=False)
        async def ui(request: Request) -> Response:
            root = request.scope.get("root_path", "")
            rows = "".join(
                f"<tr><td><a href='{root}/browse/{esc(i['key'])}'>{esc(i['key'])}</a></td>"
                f"<td>{esc(i['summary'])}</td><td>{esc(i['status'])}</td>"
                f"<td>{esc(i['resolution'] or 'Unresolved')}</td><td>{esc(i['assignee'])}</td>"
                f"<td>{_resolve_buttons(root, i) if i['status'] != 'Done' else ''}</td></tr>"
                for i in reversed(list(self.issues.values()))
            )
            hook = esc(self.config.webhook_url or "none configured")
            return page(
                "Sandbox JIRA: tickets",
                f"<p>Webhook: {hook}. Deployment: {esc(self.config.deployment)}.</p>"
                "<table><tr><th>Key</th><th>Summary</th><th>Status</th><th>Resolution</th>"
                f"<th>Assignee</th><th></th></tr>{rows or '<tr><td>No tickets yet.</td></tr>'}"
                "</table>",
            )

        @app.get("/browse/{key}", include_in_schema=False)
        async def browse(key: str, request: Request) -> Response:
            issue = self.issue(key)
            root = request.scope.get("root_path", "")
            comments = "".join(
                f"<li><b>{esc(c['author'])}</b> {esc(c['created'])}<br>"
                f"{esc(adf_text(c['body']))}</li>"
                for c in issue["comments"]
            )
            custom = "".join(
                f"<tr><th>{esc(self.config.custom_fields.get(k, k))}</th>"
                f"<td>{esc(json.dumps(v))}</td></tr>"
                for k, v in issue["custom"].items()
            )
            actions = _resolve_buttons(root, issue) if issue["status"] != "Done" else ""
            return page(
                f"{issue['key']}: {issue['summary']}",
                f"<p><a href='{root}/ui'>all tickets</a></p><table>"
                f"<tr><th>Status</th><td>{esc(issue['status'])}</td></tr>"
                f"<tr><th>Resolution</th><td>{esc(issue['resolution'] or 'Unresolved')}</td></tr>"
                f"<tr><th>Type</th><td>{esc(issue['issuetype'])}</td></tr>"
                f"<tr><th>Priority</th><td>{esc(issue['priority'])}</td></tr>"
                f"<tr><th>Assignee</th><td>{esc(issue['assignee'])}</td></tr>"
                f"<tr><th>Reporter</th><td>{esc(issue['reporter'])}</td></tr>"
                f"<tr><th>Labels</th><td>{esc(', '.join(issue['labels']))}</td></tr>"
                f"<tr><th>Components</th><td>{esc(', '.join(issue['components']))}</td></tr>"
                f"{custom}</table><h2>Description</h2>"
                f"<pre>{esc(adf_text(issue['description']))}</pre>"
                f"<h2>Comments</h2><ul>{comments}</ul>{actions}",
            )


def _resolve_buttons(root: str, issue: dict[str, Any]) -> str:
    return (
        f"<form method='post' action='{root}/ui/issues/{esc(issue['key'])}/resolve'>"
        "<input name='comment' placeholder='reason / comment'> "
        "<button name='resolution' value='Done'>Done</button>"
        "<button name='resolution' value=\"Won't Do\">Won't Do</button></form>"
    )


def _named(ref: Any, table: dict[str, str]) -> str | None:
    """``{"name": ...}`` or ``{"id": ...}`` (or a bare name) to a known name."""
    if isinstance(ref, dict):
        if "name" in ref:
            ref = ref["name"]
        elif "id" in ref:
            by_id = {v: k for k, v in table.items()}
            return by_id.get(str(ref["id"]))
    return ref if isinstance(ref, str) and ref in table else None


def _field_list(value: Any, default: list[str]) -> list[str]:
    if not value:
        return default
    items = value if isinstance(value, list) else [value]
    return [f.strip() for item in items for f in str(item).split(",") if f.strip()] or default

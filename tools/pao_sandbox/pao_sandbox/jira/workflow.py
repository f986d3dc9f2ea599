"""What happens to JIRA sandbox issues: created, commented, moved through the workflow
(To Do -> In Progress -> Done), resolved, and the signed webhook about it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from pao_sandbox.errors import SandboxApiError
from pao_sandbox.jira.config import (
    RESOLUTIONS,
    STATUSES,
    TRANSITIONS,
    ResolveBody,
    jira_time,
    known_name,
)
from pao_sandbox.jira.rendering import JiraRendering
from pao_sandbox.jira.validation import JiraValidation


class JiraWorkflow(JiraValidation, JiraRendering):
    """Issues created, commented, moved and resolved; webhooks about them."""

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
            resolution = known_name(value, RESOLUTIONS)
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

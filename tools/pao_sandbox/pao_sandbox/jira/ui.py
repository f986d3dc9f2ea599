"""The JIRA sandbox's own side (not in real JIRA): the resolve API, the ticket list and
each ticket's page, where a person resolves tickets (Done / Won't Do)."""

from __future__ import annotations

import json
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from pao_sandbox.common import (
    esc,
    page,
    system_base_url,
)
from pao_sandbox.jira.config import (
    ResolveBody,
    adf_text,
)

if TYPE_CHECKING:
    from pao_sandbox.jira.sandbox import JiraSandbox


def add_sandbox_routes(app: FastAPI, jira: JiraSandbox) -> None:
    """``POST /sandbox/issues/{key}/resolve``, ``/ui`` and ``/browse/{key}``."""
    tag: list[str | Enum] = ["jira sandbox control"]

    @app.post("/sandbox/issues/{key}/resolve", tags=tag)
    async def resolve(key: str, body: ResolveBody, request: Request) -> dict[str, Any]:
        return await jira.resolve(system_base_url(request), key, body)

    @app.post("/ui/issues/{key}/resolve", include_in_schema=False)
    async def resolve_form(key: str, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        body = ResolveBody(
            resolution=form.get("resolution", "Done"), comment=form.get("comment") or None
        )
        await jira.resolve(system_base_url(request), key, body)
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/browse/{key}", status_code=303)

    @app.get("/ui", include_in_schema=False)
    async def ui(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        rows = "".join(
            f"<tr><td><a href='{root}/browse/{esc(i['key'])}'>{esc(i['key'])}</a></td>"
            f"<td>{esc(i['summary'])}</td><td>{esc(i['status'])}</td>"
            f"<td>{esc(i['resolution'] or 'Unresolved')}</td><td>{esc(i['assignee'])}</td>"
            f"<td>{resolve_buttons(root, i) if i['status'] != 'Done' else ''}</td></tr>"
            for i in reversed(list(jira.issues.values()))
        )
        hook = esc(jira.config.webhook_url or "none configured")
        return page(
            "Sandbox JIRA: tickets",
            f"<p>Webhook: {hook}. Deployment: {esc(jira.config.deployment)}.</p>"
            "<table><tr><th>Key</th><th>Summary</th><th>Status</th><th>Resolution</th>"
            f"<th>Assignee</th><th></th></tr>{rows or '<tr><td>No tickets yet.</td></tr>'}"
            "</table>",
        )

    @app.get("/browse/{key}", include_in_schema=False)
    async def browse(key: str, request: Request) -> Response:
        issue = jira.issue(key)
        root = request.scope.get("root_path", "")
        comments = "".join(
            f"<li><b>{esc(c['author'])}</b> {esc(c['created'])}<br>{esc(adf_text(c['body']))}</li>"
            for c in issue["comments"]
        )
        custom = "".join(
            f"<tr><th>{esc(jira.config.custom_fields.get(k, k))}</th>"
            f"<td>{esc(json.dumps(v))}</td></tr>"
            for k, v in issue["custom"].items()
        )
        actions = resolve_buttons(root, issue) if issue["status"] != "Done" else ""
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


def resolve_buttons(root: str, issue: dict[str, Any]) -> str:
    return (
        f"<form method='post' action='{root}/ui/issues/{esc(issue['key'])}/resolve'>"
        "<input name='comment' placeholder='reason / comment'> "
        "<button name='resolution' value='Done'>Done</button>"
        "<button name='resolution' value=\"Won't Do\">Won't Do</button></form>"
    )

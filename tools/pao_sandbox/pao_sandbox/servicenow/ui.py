"""The ServiceNow sandbox's own side: the pages of configuration items and change requests
(with Approve / Reject), and the approve / reject API an approver's decision goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from pao_sandbox.common import esc, page
from pao_sandbox.servicenow.config import (
    APPROVALS,
    CHANGE_CHOICES,
    CHANGE_STATES,
    CHANGE_TABLE,
    ENDED,
    INSTALL_STATUS,
    RISKS,
    DecisionBody,
)

if TYPE_CHECKING:
    from pao_sandbox.servicenow.sandbox import ServiceNowSandbox


def add_ci_routes(app: FastAPI, servicenow: ServiceNowSandbox) -> None:
    """The page of configuration items (``/ui``)."""

    @app.get("/ui", include_in_schema=False)
    async def ui(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return page(
            "Sandbox ServiceNow: configuration items",
            f"<p><a href='{root}/ui/changes'>Change requests</a></p>{ci_page(servicenow)}",
        )


def add_change_routes(app: FastAPI, servicenow: ServiceNowSandbox) -> None:
    tag: list[Any] = ["servicenow sandbox control"]

    @app.post("/sandbox/change_request/{sys_id}/approve", tags=tag)
    async def approve(sys_id: str, body: DecisionBody) -> dict[str, Any]:
        return await servicenow.decide_change(sys_id, "approved", body)

    @app.post("/sandbox/change_request/{sys_id}/reject", tags=tag)
    async def reject(sys_id: str, body: DecisionBody) -> dict[str, Any]:
        return await servicenow.decide_change(sys_id, "rejected", body)

    @app.post("/ui/changes/{sys_id}/decide", include_in_schema=False)
    async def decide_form(sys_id: str, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        approval = "rejected" if form.get("approval") == "rejected" else "approved"
        body = DecisionBody(
            user=form.get("user") or "sandbox-approver", comment=form.get("comment") or None
        )
        await servicenow.decide_change(sys_id, approval, body)
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/change_request.do?sys_id={sys_id}", status_code=303)

    @app.get("/ui/changes", include_in_schema=False)
    async def changes(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return page("Sandbox ServiceNow: change requests", changes_page(servicenow, root))

    @app.get("/change_request.do", include_in_schema=False)
    async def change_form(request: Request, sys_id: str = "") -> Response:
        root = request.scope.get("root_path", "")
        record = servicenow.record(CHANGE_TABLE, sys_id)
        rows = "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(CHANGE_CHOICES.get(k, {}).get(v, v))}</td></tr>"
            for k, v in record.items()
            if v and k != "description"
        )
        return page(
            f"{record['number']}: {record['short_description']}",
            f"<p><a href='{root}/ui/changes'>all change requests</a></p>"
            f"{decision_form(root, record)}<table>{rows}</table>"
            f"<h2>Description</h2><pre>{esc(record['description'])}</pre>",
        )


def changes_page(servicenow: ServiceNowSandbox, root: str) -> str:
    records = sorted(
        servicenow.records.get(CHANGE_TABLE, {}).values(),
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
        f"<td>{esc(r['close_code'])}</td><td>{decision_form(root, r)}</td></tr>"
        for r in records
    )
    hook = esc(servicenow.config.webhook_url or "none configured")
    empty = "<tr><td colspan='9'>No change requests yet.</td></tr>"
    return (
        f"<p>Webhook: {hook}. <a href='{root}/ui'>Configuration items</a></p>"
        "<table><tr><th>Number</th><th>Short description</th><th>State</th>"
        "<th>Approval</th><th>Risk</th><th>Type</th><th>Planned</th><th>Close code</th>"
        f"<th></th></tr>{rows or empty}</table>"
    )


def ci_page(servicenow: ServiceNowSandbox) -> str:
    rows = []
    for table, records in sorted(servicenow.records.items()):
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
        f"<p>{sum(len(t) for t in servicenow.records.values())} CI(s). Table API at "
        "<code>api/now/table/{class}</code>, Basic auth.</p>"
        "<table><tr><th>Class</th><th>Name</th><th>Install status</th>"
        "<th>Correlation id</th><th>Updated</th><th>Updates</th><th>sys_id</th></tr>"
        f"{''.join(rows) or empty}</table>"
    )


def decision_form(root: str, record: dict[str, str]) -> str:
    if record["approval"] != "requested" or record["state"] in ENDED:
        return ""
    return (
        f"<form method='post' action='{root}/ui/changes/{esc(record['sys_id'])}/decide'>"
        "<input name='comment' placeholder='comment'> "
        "<button name='approval' value='approved'>Approve</button>"
        "<button name='approval' value='rejected'>Reject</button></form>"
    )

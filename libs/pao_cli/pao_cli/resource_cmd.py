"""``pao resource list|show|run``: what PAO provisioned, and its day-2 operations.

    export PAO_TOKEN=$(pao token --user alice --team payments)
    pao resource list --status active
    pao resource show 3f0c...
    pao resource run update 3f0c... --input storage_gb=120 --watch

The same gateway options and ``--input k=v`` parsing as ``pao request``; ``run`` prints
the operation's request id and, with ``--watch``, follows it like ``pao request watch``
(exit 1 when it does not complete).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import click

from pao_cli.request_cmd import API, Client, Submission, gateway_client, submission_options

PAGE = 200  # the gateway's largest page


@click.group("resource", help="List and show resources, run their operations (via the gateway).")
@gateway_client
def resource() -> None:
    """Commands of the group; the client is in the context."""


@resource.command("list", help="Resources you may see, newest first.")
@click.option("--team", default=None, help="The owner team")
@click.option("--item", default=None, help="The catalog item id")
@click.option("--status", "statuses", multiple=True, help="Repeatable: active, updating, ...")
@click.option("--owner", default=None, help="The requester's user id")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the resources as JSON")
@click.pass_obj
def list_resources(
    client: Client,
    team: str | None,
    item: str | None,
    statuses: tuple[str, ...],
    owner: str | None,
    limit: int,
    as_json: bool,
) -> None:
    params: dict[str, Any] = {"limit": min(limit, PAGE)}
    for name, value in (("team", team), ("item", item), ("owner", owner)):
        if value is not None:
            params[name] = value
    if statuses:
        params["status"] = list(statuses)
    rows: list[dict[str, Any]] = []
    path: str | None = f"{API}/resources"
    while path is not None and len(rows) < limit:
        page = client.call("GET", path, params=params).json()
        rows += page["items"]
        path, params = _next(page.get("next")), {}
    rows = rows[:limit]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no resources")
        return
    click.echo(f"{'ID':<36}  {'NAME':<28}  {'ITEM':<24}  {'STATUS':<15}  TEAM")
    for row in rows:
        click.echo(
            f"{row['id']:<36}  {_cut(row['name'], 28):<28}  "
            f"{_cut(row['item_id'] + ' ' + row['item_version'], 24):<24}  "
            f"{row['status']:<15}  {row.get('owner_team') or '-'}"
        )


def _next(url: str | None) -> str | None:
    """The path and query of the gateway's next link (its host may be the gateway's own
    view of itself, behind a proxy: the client's base URL is kept)."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@resource.command(help="Show resource ID: state, outputs, history and the operations allowed now.")
@click.argument("resource_id")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's answers as JSON")
@click.pass_obj
def show(client: Client, resource_id: str, as_json: bool) -> None:
    view = client.call("GET", f"{API}/resources/{resource_id}").json()
    operations = client.call("GET", f"{API}/resources/{resource_id}/operations").json()
    if as_json:
        click.echo(json.dumps({**view, "operations": operations}, indent=2))
    else:
        click.echo(describe(view, operations))


def describe(view: dict[str, Any], operations: dict[str, Any]) -> str:
    lines = [
        f"resource   {view['id']}",
        f"name       {view['name']}",
        f"item       {view['item_id']} {view['item_version']}",
        f"status     {view['status']}",
        f"owner      {view.get('owner_team') or '-'} (requested by {view.get('requester_id')})",
        f"created    {view.get('created_at')}",
    ]
    if view.get("decommissioned_at"):
        lines.append(f"gone       {view['decommissioned_at']}")
    active = view.get("active_request")
    if active:
        doing = active.get("operation") or "provisioning"
        lines.append(f"running    {active['request_id']} ({doing})")
    if view.get("error"):
        lines.append(f"error      {view['error']}")
    lines.append("inputs     " + json.dumps(view.get("inputs") or {}))
    lines.append("outputs    " + json.dumps(view.get("outputs") or {}))
    history = view.get("requests") or []
    if history:
        lines.append("requests")
        for entry in history:
            lines.append(
                f"  {entry['request_id']:<36} {entry.get('operation') or 'provision':<16}"
                f" {entry['status']:<12} {entry.get('submitted_at') or ''}"
            )
    allowed = operations.get("operations") or []
    lines.append("operations")
    for op in allowed:
        fields = ", ".join(op.get("fields") or []) or "no inputs"
        lines.append(f"  {op['id']:<20} {op['title']} ({fields})")
    for op in operations.get("unavailable") or []:
        lines.append(f"  {op['id']:<20} not now: {op['reason']}")
    if not allowed and not operations.get("unavailable"):
        lines.append("  none declared")
    if operations.get("decommission_note"):
        lines.append(f"note       {operations['decommission_note']}")
    return "\n".join(lines)


@resource.command(help="Run operation OP on resource ID; prints the request id.")
@click.argument("operation")
@click.argument("resource_id")
@submission_options
@click.pass_obj
def run(client: Client, operation: str, resource_id: str, submission: Submission) -> None:
    submission.send(client, f"{API}/resources/{resource_id}/operations/{operation}", {})

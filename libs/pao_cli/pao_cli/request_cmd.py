"""``pao request submit|watch|show``: requests through the gateway's HTTP API.

    export PAO_TOKEN=$(pao token --user alice --team payments)
    pao request submit debug-echo --input message=hello --watch
    pao request show 6f1c...

Values of ``--input k=v`` are read as JSON when they parse (``size=10`` is a
number, ``tags=["a","b"]`` a list), else as plain strings.
"""

from __future__ import annotations

import functools
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx
import yaml

API = "/api/v1"
# Exit codes of ``watch``: 0 completed, 1 ended otherwise (failed, rejected, ...).
FAILED_STATUSES = {"failed", "rejected", "cancelled", "expired", "rolled_back"}
RECONNECTS = 5


@dataclass
class Client:
    gateway: str
    token: str | None

    def headers(self, **extra: str) -> dict[str, str]:
        if not self.token:
            raise click.ClickException(
                "no token: set PAO_TOKEN (e.g. export PAO_TOKEN=$(pao token --user ID --team T))"
                " or pass --token"
            )
        return {"Authorization": f"Bearer {self.token}", **extra}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self.headers(**kwargs.pop("headers", {}))
        try:
            response = httpx.request(
                method, self.gateway + path, headers=headers, timeout=30, **kwargs
            )
        except httpx.HTTPError as exc:
            raise click.ClickException(f"gateway {self.gateway} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise click.ClickException(_problem(response))
        return response


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    lines = [f"HTTP {response.status_code}: {body.get('detail', body)}"]
    for error in body.get("errors") or []:
        where = error.get("field") or error.get("in") or "?"
        lines.append(f"  {where}: {error.get('message')}")
    return "\n".join(lines)


def parse_inputs(pairs: tuple[str, ...], inputs_file: Path | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if inputs_file is not None:
        loaded = yaml.safe_load(inputs_file.read_text())
        if not isinstance(loaded, dict):
            raise click.BadParameter(f"{inputs_file} must hold a mapping", param_hint="--inputs")
        inputs.update(loaded)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--input")
        try:
            inputs[name] = json.loads(raw)
        except json.JSONDecodeError:
            inputs[name] = raw
    return inputs


def gateway_client(group: Callable[..., None]) -> Callable[..., None]:
    """The --gateway/--token options of a command group talking to the gateway; they put a
    ``Client`` in the click context for its commands (``@click.pass_obj``)."""

    @click.option(
        "--gateway",
        envvar="PAO_GATEWAY_URL",
        default="http://127.0.0.1:8080",
        show_default=True,
        help="Gateway base URL (PAO_GATEWAY_URL)",
    )
    @click.option("--token", envvar="PAO_TOKEN", default=None, help="Bearer token (PAO_TOKEN)")
    @click.pass_context
    @functools.wraps(group)
    def with_client(ctx: click.Context, gateway: str, token: str | None) -> None:
        ctx.obj = Client(gateway.rstrip("/"), token)
        group()

    return with_client


@dataclass(frozen=True)
class Submission:
    """What ``pao request submit`` and ``pao resource run`` share: the inputs, the
    idempotency key, an emergency reason, and how to show the gateway's answer."""

    inputs: dict[str, Any]
    idempotency_key: str | None
    emergency: str | None
    watch: bool
    as_json: bool

    def send(self, client: Client, path: str, body: dict[str, Any]) -> None:
        """POST ``body`` plus the inputs (and emergency) to ``path``; print the request id
        (or the answer as JSON) and, with ``--watch``, follow the request to its end."""
        body = {**body, "inputs": self.inputs}
        if self.emergency is not None:
            body["emergency"] = {"reason": self.emergency}
        key = self.idempotency_key or str(uuid.uuid4())
        answer = client.call("POST", path, json=body, headers={"Idempotency-Key": key}).json()
        if self.as_json:
            click.echo(json.dumps(answer, indent=2))
        else:
            click.echo(answer["id"])
        if self.watch:
            sys.exit(follow(client, answer["id"]))


def submission_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of a command that submits a request (--input, --inputs,
    --idempotency-key, --emergency, --watch, --json), passed to it as ``submission``."""

    @click.option("--input", "-i", "pairs", multiple=True, metavar="NAME=VALUE", help="Repeatable")
    @click.option(
        "--inputs",
        "inputs_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A YAML/JSON file of inputs (--input values override it)",
    )
    @click.option(
        "--idempotency-key", default=None, help="Retry-safe key (default: a fresh one per call)"
    )
    @click.option(
        "--emergency",
        metavar="REASON",
        default=None,
        help="Override the change calendar (needs its emergency role); the reason is recorded",
    )
    @click.option("--watch", "-w", is_flag=True, help="Follow the request until it ends")
    @click.option("--json", "as_json", is_flag=True, help="Print the gateway's answer as JSON")
    @functools.wraps(command)
    def with_submission(
        *args: Any,
        pairs: tuple[str, ...],
        inputs_file: Path | None,
        idempotency_key: str | None,
        emergency: str | None,
        watch: bool,
        as_json: bool,
        **kwargs: Any,
    ) -> None:
        submission = Submission(
            parse_inputs(pairs, inputs_file), idempotency_key, emergency, watch, as_json
        )
        command(*args, submission=submission, **kwargs)

    return with_submission


@click.group("request", help="Submit, follow and show requests (via the gateway).")
@gateway_client
def request() -> None:
    """Commands of the group; the client is in the context."""


@request.command(help="Submit a request for catalog ITEM; prints the request id.")
@click.argument("item")
@click.option("--version", "item_version", default=None, help="Pin a catalog version")
@submission_options
@click.pass_obj
def submit(client: Client, item: str, item_version: str | None, submission: Submission) -> None:
    body: dict[str, Any] = {"item_id": item}
    if item_version:
        body["item_version"] = item_version
    submission.send(client, f"{API}/requests", body)


@request.command(help="Follow request ID live; exits 1 if it fails, is rejected or cancelled.")
@click.argument("request_id")
@click.pass_obj
def watch(client: Client, request_id: str) -> None:
    sys.exit(follow(client, request_id))


@request.command(help="Show request ID: status, steps, ticket, outputs.")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's answer as JSON")
@click.pass_obj
def show(client: Client, request_id: str, as_json: bool) -> None:
    view = client.call("GET", f"{API}/requests/{request_id}").json()
    click.echo(json.dumps(view, indent=2) if as_json else describe(view))


def describe(view: dict[str, Any]) -> str:
    requester = view.get("requester") or {}
    lines = [
        f"request    {view['id']}",
        f"item       {view.get('item_id')} {view.get('item_version') or ''}".rstrip(),
        f"status     {view['status']}",
        f"requester  {requester.get('id')} ({', '.join(requester.get('teams') or []) or '-'})",
        f"submitted  {view.get('submitted_at')}",
    ]
    if view.get("completed_at"):
        lines.append(f"completed  {view['completed_at']}")
    approval = view.get("approval")
    if approval and approval.get("required"):
        who = ", ".join(
            (approval.get("approver_teams") or []) + (approval.get("approver_users") or [])
        )
        lines.append(f"approval   by {who or '-'}; decided by {approval.get('decided_by') or '-'}")
    lines.extend(_change_lines(view))
    ticket = view.get("ticket")
    if ticket:
        lines.append(f"ticket     {ticket.get('key')} {ticket.get('url') or ''}".rstrip())
    lines.extend(_step_lines(view.get("steps") or []))
    if view.get("outputs"):
        lines.append("outputs    " + json.dumps(view["outputs"]))
    if view.get("error"):
        lines.append(f"error      {view['error']}")
    return "\n".join(lines)


def _change_lines(view: dict[str, Any]) -> list[str]:
    """The change class, the window met, and the change request (if any)."""
    change = view.get("change") or {}
    if not change:
        return []
    line = f"change     {change.get('class')}"
    if change.get("overridden_by"):
        line += f"; {change.get('window')} overridden by {change['overridden_by']}: "
        line += str(change.get("override_reason"))
    elif view["status"] == "scheduled":
        line += f"; held by {change.get('window')} until {change.get('until')}"
    elif change.get("window"):
        line += f"; window {change['window']} ({change.get('action')})"
    lines = [line]
    cr = change.get("change_request")
    if cr:
        line = f"change req {cr.get('number') or '(opening)'} {cr.get('url') or ''}".rstrip()
        line += f"; approval {cr.get('approval') or '-'}"
        if cr.get("close_code") or cr.get("phase") == "closed":
            line += f"; closed {cr.get('close_code') or 'canceled'}"
        if cr.get("last_error"):
            line += f"; ServiceNow: {cr['last_error']} (retry at {cr.get('retry_at')})"
        lines.append(line)
    return lines


def _step_lines(steps: list[dict[str, Any]]) -> list[str]:
    if not steps:
        return []
    lines = ["steps"]
    for step in steps:
        line = f"  {step['id']:<20} {step['status']:<12} attempts={step.get('attempts', 0)}"
        if step.get("error"):
            line += f"  error: {step['error']}"
        lines.append(line)
    return lines


@dataclass
class SseEvent:
    event: str = "message"
    data: list[str] = field(default_factory=list)
    id: str | None = None

    def json(self) -> Any:
        return json.loads("\n".join(self.data))


def sse_events(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Server-sent events from a line stream (the WHATWG event-stream format)."""
    current = SseEvent()
    for line in lines:
        if not line:
            if current.data:
                yield current
            current = SseEvent()
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            current.event = value
        elif name == "data":
            current.data.append(value)
        elif name == "id":
            current.id = value


def follow(client: Client, request_id: str) -> int:
    """Print status changes until the request ends; the exit code for its final status."""
    last_id: str | None = None
    status: str | None = None
    for _attempt in range(RECONNECTS):
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            with httpx.stream(
                "GET",
                f"{client.gateway}{API}/requests/{request_id}/stream",
                headers=client.headers(**headers),
                timeout=httpx.Timeout(10.0, read=None),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise click.ClickException(_problem(response))
                for event in sse_events(response.iter_lines()):
                    last_id = event.id or last_id
                    if event.event in ("state", "event"):
                        data = event.json()
                        new = data.get("status")
                        if new and new != status:
                            label = data.get("event_type") or "current"
                            click.echo(f"{new:<18} ({label})")
                            status = new
                    elif event.event == "end":
                        status = event.json().get("status", status)
                        return finish(client, request_id, status)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError) as exc:
            click.echo(f"stream interrupted ({exc.__class__.__name__}); reconnecting", err=True)
    raise click.ClickException(f"lost the stream of {request_id} {RECONNECTS} times")


def finish(client: Client, request_id: str, status: str | None) -> int:
    view = client.call("GET", f"{API}/requests/{request_id}").json()
    if view.get("outputs"):
        click.echo("outputs: " + json.dumps(view["outputs"]))
    if view.get("error"):
        click.echo(f"error: {view['error']}", err=True)
    return 0 if status == "completed" else 1

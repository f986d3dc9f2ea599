"""``pao policy``: validate policy documents, preview what the change calendar does.

    pao policy validate [FILES...]            (default: policies/*.yaml)
    pao policy preview --at DATE ITEM [--input k=v ...] [--example NAME] [--calendar FILE]

``validate`` reads each document's ``kind`` (ChangeCalendar, NotificationPolicy) and checks
it as the service that loads it would (file:line for every problem). ``preview`` decides,
with the same rule the orchestrator and the gateway use (``pao_common.change_calendar``),
what happens to a request for ITEM with these inputs submitted at DATE: its change class,
the window it meets and whether it runs at once, is held, escalated or denied. Nothing is
contacted.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import yaml
from pao_catalog_model.forms import apply_defaults, validate_inputs
from pao_catalog_model.model import CatalogItem
from pao_common import change_calendar, templating
from pao_common.errors import InvalidChangeCalendar, TemplateError

from pao_cli.catalog_cmd import _inputs_and_user, _registry, find_item

KINDS = ("ChangeCalendar", "NotificationPolicy")


def default_calendar() -> Path:
    return Path(os.environ.get("PAO_CHANGE_CALENDAR") or "policies/change-calendar.yaml")


@click.group(help="Validate policy documents; preview the change calendar.")
def policy() -> None:
    pass


def _problems(path: Path) -> tuple[str | None, list[str]]:
    """The document's kind and what is wrong with it (empty: nothing)."""
    try:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, [f"{path}:1: not readable YAML: {exc}"]
    kind = document.get("kind") if isinstance(document, dict) else None
    if kind == "ChangeCalendar":
        try:
            change_calendar.parse_calendar(text, str(path))
        except InvalidChangeCalendar as exc:
            return kind, exc.problems
        return kind, []
    if kind == "NotificationPolicy":
        from pao_notifier.errors import InvalidPolicy
        from pao_notifier.policy import parse_policy

        try:
            parse_policy(text, str(path))
        except InvalidPolicy as exc:
            return kind, list(exc.problems)
        return kind, []
    return kind, [f"{path}:1 kind: {kind!r} is not a policy kind ({', '.join(KINDS)})"]


@policy.command(name="validate")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check policy documents (default: every policies/*.yaml); exit 1 on any problem."""
    paths = list(files) or sorted(Path("policies").glob("*.yaml"))
    if not paths:
        raise click.ClickException("no policy files given and none in policies/")
    failed = 0
    for path in paths:
        kind, problems = _problems(path)
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            failed += 1
        else:
            click.echo(f"ok {path} ({kind})")
    if failed:
        click.echo(f"{failed} of {len(paths)} policy file(s) invalid", err=True)
        sys.exit(1)


def _input(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r} is not k=v", param_hint="--input")
    return key, yaml.safe_load(value) if value else ""


def _class_and_why(item: CatalogItem, context: dict[str, Any]) -> tuple[str, str]:
    for index, rule in enumerate(item.change_class.rules):
        if templating.evaluate(rule.when, context):
            return rule.class_, f"rule {index + 1}: {rule.when}"
    return item.change_class.default, "the item's default"


def decide_preview(
    item: CatalogItem,
    inputs: dict[str, Any],
    user: dict[str, Any],
    calendar: change_calendar.ChangeCalendar | None,
    at: Any,
    emergency: str | None = None,
) -> dict[str, Any]:
    """What a request for ``item`` submitted at ``at`` would meet (JSON-ready)."""
    values = apply_defaults(item, inputs)
    out: dict[str, Any] = {
        "item": {"id": item.metadata.id, "version": item.metadata.version},
        "at": at.astimezone(ZoneInfo(calendar.timezone if calendar else "UTC")).isoformat(),
        "inputs": values,
        "errors": [e.as_dict() for e in validate_inputs(item, inputs)],
    }
    if out["errors"]:
        out["outcome"] = "invalid"
        return out
    context = templating.build_context(
        inputs=values, user=user, item=item, system={"now": at.isoformat()}
    )
    change_class, why = _class_and_why(item, context)
    out["change_class"] = change_class
    out["change_class_because"] = why
    approval = item.approval
    needs = approval.required and (
        approval.when is None or bool(templating.evaluate(approval.when, context))
    )
    out["approval_required"] = needs
    found = change_calendar.verdict(
        calendar, at, change_class, item_id=item.metadata.id, owner=item.metadata.owner
    )
    if calendar is not None:
        out["calendar_version"] = calendar.version
    wanted = calendar.change_requests if calendar is not None else None
    if wanted is not None and wanted.applies_to(
        change_class, item.metadata.id, item.metadata.owner
    ):
        out["change_request"] = {
            "system": wanted.system,
            "risk": wanted.risk_of(change_class),
            "type": "emergency" if emergency is not None else "normal",
            "planned_duration": wanted.planned_duration,
            "assignment_group": wanted.assignment_group,
        }
    if found is None:
        out["outcome"] = "runs" if not needs else "runs after approval"
        return out
    out["window"] = {
        "name": found.window,
        "action": found.action,
        "start": found.start.astimezone(found.local_end.tzinfo).isoformat(),
        "end": found.local_end.isoformat(),
        "description": found.description,
    }
    if emergency is not None:
        allowed = calendar is not None and calendar.may_override(user.get("roles") or ())
        out["emergency"] = {"reason": emergency, "allowed": allowed}
        if allowed:
            out["outcome"] = "overridden: runs at once"
            return out
    if found.action == "hold":
        out["outcome"] = (
            f"held: waits in status scheduled, starts by itself at {found.local_end.isoformat()}"
        )
    elif found.action == "escalate":
        assert found.escalate_to is not None
        out["outcome"] = (
            f"escalated: an extra approval stage '{found.escalate_to.stage_name}' by"
            f" {found.escalate_to.team} (expires after {found.escalate_to.expires_after})"
        )
    else:
        out["outcome"] = f"denied: the gateway answers 422: {found.explain(change_class)}"
    return out


def render_text(shown: dict[str, Any]) -> str:
    lines = [f"{shown['item']['id']} {shown['item']['version']} submitted at {shown['at']}"]
    if shown["errors"]:
        lines += [f"  invalid: {e['field']}: {e['message']}" for e in shown["errors"]]
        return "\n".join(lines)
    lines.append(f"change class: {shown['change_class']} ({shown['change_class_because']})")
    lines.append(f"approval: {'required' if shown['approval_required'] else 'not required'}")
    if "calendar_version" not in shown:
        lines.append("change calendar: none")
    window = shown.get("window")
    if window:
        lines.append(
            f"window: {window['name']} ({window['action']}) {window['start']} until {window['end']}"
        )
    elif "calendar_version" in shown:
        lines.append(f"window: none (calendar {shown['calendar_version']})")
    change_request = shown.get("change_request")
    if change_request:
        lines.append(
            f"change request: opened in {change_request['system']} (risk"
            f" {change_request['risk']}, planned {change_request['planned_duration']});"
            " the fulfilment waits for its approval there"
        )
    if "emergency" in shown and not shown["emergency"]["allowed"]:
        lines.append("emergency override: refused (the requester lacks the emergency role)")
    lines.append(f"=> {shown['outcome']}")
    return "\n".join(lines)


@policy.command(name="preview")
@click.argument("item_ref", metavar="ITEM")
@click.option("--at", "at_text", required=True, help="Date or date-time (ISO 8601).")
@click.option("--input", "pairs", multiple=True, help="An input as k=v (repeatable; YAML value).")
@click.option("--example", "example_name", help="Start from this example's inputs and user.")
@click.option(
    "--calendar",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The change calendar (default: $PAO_CHANGE_CALENDAR or policies/change-calendar.yaml)",
)
@click.option("--role", "roles", multiple=True, help="Requester role (repeatable).")
@click.option("--emergency", help="Preview an emergency override with this reason.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def preview_cmd(
    item_ref: str,
    at_text: str,
    pairs: tuple[str, ...],
    example_name: str | None,
    calendar: Path | None,
    roles: tuple[str, ...],
    emergency: str | None,
    fmt: str,
) -> None:
    """What would happen to a request for ITEM (a path or an id in ./catalog) at --at.

    A date without a zone is read in the calendar's time zone.
    """
    path = calendar or default_calendar()
    try:
        cal = change_calendar.load_calendar(path) if path.exists() else None
    except InvalidChangeCalendar as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{path} is not a valid change calendar") from None
    try:
        at = change_calendar.parse_instant(at_text, cal.timezone if cal else "UTC")
    except ValueError:
        raise click.BadParameter(f"{at_text!r} is not an ISO date", param_hint="--at") from None
    result = find_item(item_ref, _registry(None))
    if result.item is None:
        for error in result.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{result.file} is not a valid catalog document")
    item = result.item
    if example_name is not None:
        inputs, user = _inputs_and_user(item, example_name, None)
    else:
        inputs, user = {}, {"id": "preview-user", "teams": [], "roles": []}
    inputs.update(dict(_input(p) for p in pairs))
    if roles:
        user["roles"] = list(roles)
    try:
        shown = decide_preview(item, inputs, user, cal, at, emergency)
    except TemplateError as exc:
        raise click.ClickException(f"change_class or approval.when: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps(shown, indent=2, default=str))
    else:
        click.echo(render_text(shown))
    if shown["errors"]:
        sys.exit(1)

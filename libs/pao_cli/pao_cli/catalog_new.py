"""``pao catalog new``: a valid, commented catalog item from a starting point.

    pao catalog new [--from manual-jira|terraform|github-workflow|rest|ITEM] [--yes]
                    [--id ID --name NAME --owner TEAM --category C --description TEXT]
                    [--field ID[:TYPE[:LABEL[:OPT,OPT]]]]... [--required ID]...
                    [--set KEY=VALUE]... [--out FILE | --out -] [--force]

In a terminal it asks for each answer, the flags' values (or the starter's) being the
defaults; ``--yes`` takes the flags and defaults without asking, for scripts. The
document is validated like ``pao catalog validate`` before anything is written, and
starts with the ``# yaml-language-server: $schema=...`` line that lets editors complete
and check fields while typing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click
from pao_catalog_model.actions import default_registry
from pao_catalog_model.loader import load_bytes
from pao_catalog_model.schema import schema_path

from pao_cli.catalog_cmd import catalog_dir, find_item
from pao_cli.catalog_starters import (
    NEW_FIELD_TYPES,
    STARTERS,
    Answers,
    NewField,
    Starter,
    StarterError,
    build_document,
    check_category,
    check_field_id,
    check_item_id,
    check_owner,
    copy_item,
    render_document,
)

DEFAULT_CATALOG_URL = "http://127.0.0.1:8081"


def default_schema_url() -> str:
    """``$PAO_SCHEMA_URL``, else the schema the catalog service at ``$PAO_CATALOG_URL`` serves."""
    if os.environ.get("PAO_SCHEMA_URL"):
        return os.environ["PAO_SCHEMA_URL"]
    base = os.environ.get("PAO_CATALOG_URL") or DEFAULT_CATALOG_URL
    return base.rstrip("/") + schema_path("2.0")


Check = Callable[[str], str]


def _checked(check: Check) -> Check:
    """A click ``value_proc`` that re-asks with the reason when ``check`` refuses."""

    def proc(value: str) -> str:
        try:
            return check(value.strip())
        except StarterError as exc:
            raise click.UsageError(str(exc)) from None

    return proc


def _setting_keys() -> str:
    return "; ".join(
        f"{s.name}: " + ", ".join(x.key for x in s.settings) for s in STARTERS.values()
    )


@click.command(name="new")
@click.option(
    "--from",
    "start",
    default=None,
    metavar="STARTER|ITEM",
    help="manual-jira (default), terraform, github-workflow, rest, or an existing item's id "
    "(or file) to copy.",
)
@click.option("--id", "item_id", help="Item id, e.g. object-bucket.")
@click.option("--name", help="Display name.")
@click.option("--owner", help="Owning team.")
@click.option("--category", help="Browse category.")
@click.option("--description", help="What the item gives the requester.")
@click.option(
    "--field",
    "field_specs",
    multiple=True,
    metavar="ID[:TYPE[:LABEL[:OPTIONS]]]",
    help="A form field (repeatable; replaces the starter's); OPTIONS a,b,c: select, multiselect.",
)
@click.option("--required", "required_ids", multiple=True, metavar="ID", help="A required field.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A fulfilment setting of the starter (" + _setting_keys() + ").",
)
@click.option(
    "--out",
    "out",
    default=None,
    help="File to write (default $PAO_CATALOG_DIR/<id>.yaml); '-' prints it.",
)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.option("--yes", "-y", is_flag=True, help="Ask nothing: flags and defaults.")
@click.option(
    "--schema-url",
    default=None,
    help="URL of the JSON Schema for the yaml-language-server line (default: $PAO_SCHEMA_URL, "
    "else $PAO_CATALOG_URL/schemas/catalog-v2.0.schema.json).",
)
def new(
    start: str | None,
    item_id: str | None,
    name: str | None,
    owner: str | None,
    category: str | None,
    description: str | None,
    field_specs: tuple[str, ...],
    required_ids: tuple[str, ...],
    settings: tuple[str, ...],
    out: str | None,
    force: bool,
    yes: bool,
    schema_url: str | None,
) -> None:
    """Create a valid, commented catalog item to start from."""
    ask = not yes
    if start is None:
        start = (
            click.prompt(
                "Start from",
                type=click.Choice([*STARTERS, "ITEM"], case_sensitive=False),
                default="manual-jira",
                show_choices=True,
            )
            if ask
            else "manual-jira"
        )
        if start == "ITEM":
            start = click.prompt("Id (or file) of the item to copy")
    try:
        fields = [
            NewField.parse(spec, required=spec.split(":", 1)[0] in required_ids)
            for spec in field_specs
        ]
        unknown = set(required_ids) - {f.id for f in fields}
        if unknown and field_specs:
            raise StarterError(f"--required {', '.join(sorted(unknown))}: no such --field")
    except StarterError as exc:
        raise click.BadParameter(str(exc), param_hint="--field") from None
    starter = STARTERS.get(start)
    if starter is None:
        if field_specs or settings:
            raise click.UsageError(
                f"--from {start}: a copy keeps the item's own fields and fulfilment; "
                "--field and --set apply to the starters (" + ", ".join(STARTERS) + ")"
            )
        text, default_path = _copy(start, item_id, name, owner, ask, schema_url)
    else:
        text, default_path = _from_starter(
            starter,
            item_id,
            name,
            owner,
            category,
            description,
            fields or None,
            required_ids,
            _parse_settings(starter, settings),
            ask,
            schema_url,
        )
    if out is None:
        out = click.prompt("Write to", default=str(default_path)) if ask else str(default_path)
    _write(text, out, force)


def _parse_settings(starter: Starter, pairs: tuple[str, ...]) -> dict[str, str]:
    known = {s.key for s in starter.settings}
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in known:
            raise click.BadParameter(
                f"{pair!r}: {starter.name} takes " + ", ".join(f"{k}=..." for k in sorted(known)),
                param_hint="--set",
            )
        values[key] = value
    return values


def _answer(
    ask: bool, prompt: str, value: str | None, default: str, check: Check | None = None
) -> str:
    """The flag's value, or the default, asked for in a terminal (re-asked when refused)."""
    chosen = value if value is not None else default
    if ask:
        if check is None:
            return str(click.prompt(prompt, default=chosen))
        return str(click.prompt(prompt, default=chosen, value_proc=_checked(check)))
    if check is not None:
        try:
            check(chosen)
        except StarterError as exc:
            raise click.BadParameter(str(exc)) from None
    return chosen


def _describe(field: NewField) -> str:
    extras = [field.type]
    if field.options:
        extras.append(": " + ", ".join(field.options))
    if field.required:
        extras.append(", required")
    return f"{field.id} ({''.join(extras)})"


def _ask_fields(current: list[NewField]) -> list[NewField]:
    click.echo("Form fields: " + ("; ".join(_describe(f) for f in current) or "none"))
    fields = current if click.confirm("Keep these fields?", default=True) else []
    while True:
        field_id = click.prompt(
            "Add a field: id (empty to finish)", default="", show_default=False
        ).strip()
        if not field_id:
            return fields
        try:
            check_field_id(field_id)
        except StarterError as exc:
            click.echo(f"Error: {exc}")
            continue
        if any(f.id == field_id for f in fields):
            click.echo(f"Error: there is a field {field_id} already")
            continue
        field_type = click.prompt(
            "  Type", type=click.Choice(NEW_FIELD_TYPES), default="string", show_choices=True
        )
        label = click.prompt("  Label", default=field_id.replace("_", " ").capitalize())
        required = click.confirm("  Required?", default=False)
        options: tuple[str, ...] = ()
        if field_type in ("select", "multiselect"):
            while not options:
                raw = click.prompt("  Options (comma-separated)")
                options = tuple(o.strip() for o in raw.split(",") if o.strip())
        try:
            fields.append(NewField(field_id, field_type, label, required, options))
        except StarterError as exc:
            click.echo(f"Error: {exc}")


def _from_starter(
    starter: Starter,
    item_id: str | None,
    name: str | None,
    owner: str | None,
    category: str | None,
    description: str | None,
    fields: list[NewField] | None,
    required_ids: tuple[str, ...],
    settings: dict[str, str],
    ask: bool,
    schema_url: str | None,
) -> tuple[str, Path]:
    if ask:
        click.echo(f"New catalog item fulfilled by {starter.summary}.")
    item_id = _answer(ask, "Item id", item_id, "my-service", check_item_id)
    name = _answer(ask, "Name", name, item_id.replace("-", " ").capitalize())
    owner = _answer(ask, "Owning team", owner, "platform", check_owner)
    category = _answer(ask, "Category", category, starter.category, check_category)
    description = _answer(ask, "Description", description, f"{name}, on request.")
    chosen = fields if fields is not None else list(starter.fields)
    if fields is None and required_ids:
        raise click.BadParameter("--required names a --field", param_hint="--required")
    if ask:
        chosen = _ask_fields(chosen)
    answers = Answers(item_id, name, owner, category, description, chosen)
    for setting in starter.settings:
        answers.settings[setting.key] = _answer(
            ask, setting.prompt, settings.get(setting.key), setting.default(answers)
        )
    document = build_document(starter, answers)
    header = (
        f"{name}: a PAO catalog item (Schema v2.0), started by\n"
        f"`pao catalog new --from {starter.name}`. Reference: docs/catalog-schema.md.\n"
        "Check it with `pao catalog validate FILE`, try it with `pao catalog preview FILE`."
    )
    text = render_document(
        document,
        schema_url=schema_url or default_schema_url(),
        header=header,
        fulfillment_comment=starter.comment,
    )
    return text, catalog_dir() / f"{item_id}.yaml"


def _copy(
    ref: str,
    item_id: str | None,
    name: str | None,
    owner: str | None,
    ask: bool,
    schema_url: str | None,
) -> tuple[str, Path]:
    source = find_item(ref, default_registry())
    if source.item is None or source.document is None:
        for error in source.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{source.file} is not a valid item: fix it before copying it")
    original = source.item.metadata
    item_id = _answer(ask, "Item id", item_id, f"{original.id}-copy", check_item_id)
    name = _answer(ask, "Name", name, f"{original.name} (copy)")
    owner = _answer(ask, "Owning team", owner, original.owner, check_owner)
    document = copy_item(source.document, item_id, name, owner)
    header = (
        f"{name}: copied from {original.id} {original.version} ({source.file})\n"
        "by `pao catalog new`. Reference: docs/catalog-schema.md.\n"
        "Check it with `pao catalog validate FILE`, try it with `pao catalog preview FILE`."
    )
    text = render_document(document, schema_url=schema_url or default_schema_url(), header=header)
    return text, catalog_dir() / f"{item_id}.yaml"


def _write(text: str, out: str, force: bool) -> None:
    shown = "<new item>" if out == "-" else out
    result = load_bytes(text.encode(), shown, registry=default_registry())
    if result.errors:
        for error in result.errors:
            click.echo(str(error), err=True)
        raise click.ClickException("the new item would not be valid; nothing written")
    if out == "-":
        click.echo(text, nl=False)
        return
    path = Path(out)
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists (--force replaces it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}: valid. Next: pao catalog preview {path}")

"""``pao catalog``: validate catalog documents in CI and preview what an item would do.

    pao catalog validate [PATH...] [--format text|json|github|junit|sarif]
                                            every error, in the format your CI reads; exit 1
    pao catalog preview ITEM [--example NAME | --inputs FILE] [--user ID --team T]
    pao catalog schema [--output FILE]      the Schema v2.0 JSON Schema (for editors)

None of them contacts any service: they read files and render templates locally. The
authoring commands (``new``, ``import``, ``test``) live in modules of their own.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from pao_catalog_model.actions import ActionRegistry, default_registry
from pao_catalog_model.errors import InvalidCatalogDocument
from pao_catalog_model.loader import (
    MAX_DOCUMENT_BYTES,
    LoadResult,
    check_unique_ids,
    is_document_file,
    load_file,
)
from pao_catalog_model.model import CatalogItem
from pao_catalog_model.preview import Preview, preview
from pao_catalog_model.schema import document_schema

from pao_cli.catalog_reports import FORMATS, RENDERERS

_INPUT_FILE_LIMIT = MAX_DOCUMENT_BYTES


def catalog_dir() -> Path:
    return Path(os.environ.get("PAO_CATALOG_DIR") or "catalog")


def _registry(actions: Path | None) -> ActionRegistry:
    try:
        return default_registry(extra_file=actions)
    except InvalidCatalogDocument as exc:
        raise click.BadParameter(str(exc), param_hint="--actions") from None


def _document_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_document_file(p)))
        elif path.exists():
            files.append(path)
        else:
            raise click.BadParameter(f"{path}: no such file or directory", param_hint="PATH")
    return files


@click.group(help="Validate and preview catalog documents.")
def catalog() -> None:
    pass


@catalog.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--actions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A registry file declaring your own action types (see docs/catalog-schema.md).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text; json; github (Actions annotations); junit (XML test report); sarif (2.1.0).",
)
def validate(paths: tuple[Path, ...], actions: Path | None, fmt: str) -> None:
    """Check documents (files or directories; default $PAO_CATALOG_DIR or ./catalog).

    Exit status: 0 every document is valid; 1 an error in any document, or no documents
    found; 2 the command was used wrongly (unknown option, no such path, bad --actions).
    """
    registry = _registry(actions)
    files = _document_files(paths or (catalog_dir(),))
    results = check_unique_ids([load_file(p, registry=registry) for p in files])
    click.echo(RENDERERS[fmt](results))
    if not results:
        if fmt == "github":
            click.echo("::error::no catalog documents found")
        click.echo("no catalog documents found", err=True)
        sys.exit(1)
    if any(r.errors for r in results):
        sys.exit(1)


@catalog.command(name="schema")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to this file (default: standard output).",
)
def schema_cmd(output: Path | None) -> None:
    """The Schema v2.0 JSON Schema, the one validation uses.

    Keep a copy next to your documents and point your editor at it with a first line
    ``# yaml-language-server: $schema=./catalog-v2.0.schema.json``, or use the catalog
    service's copy at /schemas/catalog-v2.0.schema.json.
    """
    text = json.dumps(document_schema("2.0"), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def find_item(ref: str, registry: ActionRegistry) -> LoadResult:
    """``ref`` is a document path, or an item id defined in the catalog directory."""
    path = Path(ref)
    if path.is_file():
        return load_file(path, registry=registry)
    directory = catalog_dir()
    if directory.is_dir():
        for candidate in sorted(directory.rglob("*")):
            if not (candidate.is_file() and is_document_file(candidate)):
                continue
            result = load_file(candidate, registry=registry)
            metadata = (result.document or {}).get("metadata")
            if isinstance(metadata, dict) and metadata.get("id") == ref:
                return result
    raise click.ClickException(f"no catalog item {ref!r} (not a file, not an id in {directory}/)")


def _read_inputs(path: Path) -> dict[str, Any]:
    if path.stat().st_size > _INPUT_FILE_LIMIT:
        raise click.ClickException(f"{path}: more than {_INPUT_FILE_LIMIT} bytes")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: not YAML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: inputs must be a mapping of field ids to values")
    return data


@catalog.command(name="preview")
@click.argument("item_ref", metavar="ITEM")
@click.option("--example", "example_name", help="Use the inputs and user of this example.")
@click.option(
    "--inputs",
    "inputs_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML or JSON file of inputs.",
)
@click.option("--user", "user_id", help="Requester id (default: the example's user).")
@click.option("--team", "teams", multiple=True, help="Requester team (repeatable).")
@click.option("--role", "roles", multiple=True, help="Requester role (repeatable).")
@click.option("--email", help="Requester e-mail.")
@click.option("--manager", help="The requester's manager (the 'manager' claim).")
@click.option(
    "--actions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A registry file declaring your own action types.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def preview_cmd(
    item_ref: str,
    example_name: str | None,
    inputs_file: Path | None,
    user_id: str | None,
    teams: tuple[str, ...],
    roles: tuple[str, ...],
    email: str | None,
    manager: str | None,
    actions: Path | None,
    fmt: str,
) -> None:
    """Dry run: the form, the validation result and the rendered ticket or steps.

    ITEM is a document path or an item id in $PAO_CATALOG_DIR (default ./catalog). Without
    --example or --inputs the item's first example is used. Nothing is contacted.
    """
    if example_name and inputs_file:
        raise click.UsageError("use --example or --inputs, not both")
    result = find_item(item_ref, _registry(actions))
    if result.item is None:
        for error in result.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{result.file} is not a valid catalog document")
    item = result.item
    inputs, user = _inputs_and_user(item, example_name, inputs_file)
    if user_id:
        user = {"id": user_id, "teams": [], "roles": []}
    for key, value in (("teams", list(teams)), ("roles", list(roles))):
        if value:
            user[key] = value
    for key, text in (("email", email), ("manager", manager)):
        if text:
            user[key] = text
    shown = preview(item, inputs, user)
    if fmt == "json":
        click.echo(json.dumps(shown.as_dict() | {"user": user, "notes": shown.notes}, indent=2))
    else:
        click.echo(render_text(item, shown, user))
    if shown.errors:
        sys.exit(1)


def _inputs_and_user(
    item: CatalogItem, example_name: str | None, inputs_file: Path | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    if inputs_file is not None:
        return _read_inputs(inputs_file), {"id": "preview-user", "teams": [], "roles": []}
    if example_name is not None:
        example = item.example(example_name)
        if example is None:
            names = ", ".join(e.name for e in item.examples) or "none"
            raise click.ClickException(f"no example {example_name!r} (examples: {names})")
    else:
        example = item.examples[0] if item.examples else None
    if example is None:
        return {}, {"id": "preview-user", "teams": [], "roles": []}
    return dict(example.inputs), example.user.model_dump(mode="json", exclude_none=True)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (ticket descriptions) print as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _block(title: str, value: Any) -> str:
    body = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    indented = "\n".join("  " + line for line in body.rstrip().splitlines())
    return f"== {title}\n{indented}\n"


def render_text(item: CatalogItem, shown: Preview, user: dict[str, Any]) -> str:
    meta = item.metadata
    parts = [f"{meta.name} ({meta.id} {meta.version}, {item.fulfillment.mode})\n"]
    parts.append(_block("Form schema", shown.form["schema"]))
    parts.append(_block("Form uiSchema", shown.form["uiSchema"]))
    parts.append(_block("Requester", user))
    parts.append(_block("Inputs (with defaults)", shown.inputs))
    if shown.errors:
        lines = "\n".join(f"  {e.field or '<inputs>'}: {e.message}" for e in shown.errors)
        parts.append(f"== Validation: {len(shown.errors)} error(s)\n{lines}\n")
    else:
        parts.append("== Validation: inputs are valid\n")
    for note in shown.notes:
        parts.append(f"!! {note}\n")
    plan = shown.plan
    if plan is not None:
        parts.append(_block("Approval", plan["approval"]))
        if "jira" in plan:
            parts.append(_block("JIRA ticket", plan["jira"]))
        for step in plan.get("steps", []):
            parts.append(_block(f"Step {step['id']} ({step['action']})", step))
        if "outputs" in plan:
            parts.append(_block("Request outputs", plan["outputs"]))
        if "fallback_jira" in plan:
            parts.append(_block("Fallback JIRA ticket (after rollback)", plan["fallback_jira"]))
    return "\n".join(parts)

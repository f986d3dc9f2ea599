"""``pao catalog import backstage``: Backstage Software Templates as catalog items.

    pao catalog import backstage TEMPLATE.yaml... [--out DIR] [--strict] [--force]
                                 [--jira-project KEY] [--backstage-url URL]

Per template it prints what was converted and what was not, each with the template's
line, and writes ``DIR/<id>.yaml`` (default $PAO_CATALOG_DIR) with a ``# NOT CONVERTED``
comment wherever something was left. Exit status: 1 when a file or template could not
be imported (not a Template, v1beta2, too big, the result not valid); with ``--strict``
also when anything was left unconverted; 2 for misuse.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from pao_catalog.importers.backstage import ImportedTemplate, import_file
from pao_catalog.importers.report import ImportRefused, ImportReport

from pao_cli.catalog_cmd import catalog_dir


@click.group(name="import", help="Convert other tools' documents into catalog items.")
def import_group() -> None:
    pass


@import_group.command(name="backstage")
@click.argument(
    "templates",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the items (default $PAO_CATALOG_DIR or ./catalog).",
)
@click.option("--strict", is_flag=True, help="Exit 1 when anything was not converted.")
@click.option("--force", is_flag=True, help="Replace items that exist.")
@click.option(
    "--jira-project",
    default="OPS",
    show_default=True,
    help="JIRA project of the ticket an item opens when none of its steps converts.",
)
@click.option(
    "--backstage-url",
    default=None,
    help="Base URL of the Backstage backend API, for http:backstage:request paths.",
)
def backstage(
    templates: tuple[Path, ...],
    out_dir: Path | None,
    strict: bool,
    force: bool,
    jira_project: str,
    backstage_url: str | None,
) -> None:
    """Convert scaffolder.backstage.io/v1beta3 Templates into Schema v2.0 items."""
    directory = out_dir or catalog_dir()
    failed = left = written = 0
    for path in templates:
        try:
            results = import_file(path, jira_project=jira_project, backstage_url=backstage_url)
        except ImportRefused as refused:
            line = f":{refused.line}" if refused.line else ""
            click.echo(f"{path}{line}: not imported: {refused}")
            failed += 1
            continue
        for result in results:
            report = result.report if isinstance(result, ImportedTemplate) else result
            if isinstance(result, ImportedTemplate) and not report.errors:
                target = directory / f"{result.item_id}.yaml"
                if target.exists() and not force:
                    report.errors.append(f"{target} exists (--force replaces it)")
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(result.text, encoding="utf-8")
                    report.output = str(target)
                    written += 1
            click.echo(_shown(report))
            failed += bool(report.errors)
            left += len(report.left)
    click.echo(f"{written} item(s) written, {left} part(s) not converted, {failed} failed")
    if failed or (strict and left):
        sys.exit(1)


def _shown(report: ImportReport) -> str:
    if report.errors and not report.converted:
        return f"{report.file}: template {report.template}: not imported: " + "; ".join(
            report.errors
        )
    return report.text()

"""``pao catalog test``: every item's examples through preview, each checked against its
declared expectations (``expect:``, see docs/catalog-schema.md#expectations).

    pao catalog test [PATH...] [--actions FILE] [--format text|junit]

Exit status: 0 every example passes; 1 an example fails, a document is invalid, or there
are no documents; 2 misuse. Nothing is contacted: preview renders locally.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePath

import click
from pao_catalog_model.expectations import check_example
from pao_catalog_model.loader import check_unique_ids, load_file

from pao_cli.catalog_cmd import _document_files, _registry, catalog_dir


@dataclass(frozen=True)
class ExampleResult:
    file: str
    item: str
    example: str
    problems: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.item}/{self.example}"


@click.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--actions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A registry file declaring your own action types.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "junit"]), default="text")
def test_cmd(paths: tuple[Path, ...], actions: Path | None, fmt: str) -> None:
    """Run every example through preview and check what it expects."""
    registry = _registry(actions)
    results = check_unique_ids(
        [load_file(p, registry=registry) for p in _document_files(paths or (catalog_dir(),))]
    )
    outcomes: list[ExampleResult] = []
    for result in results:
        if result.item is None or result.errors:
            problems = tuple(str(e) for e in result.errors) or ("not a valid document",)
            outcomes.append(ExampleResult(result.file, result.file, "(document)", problems))
            continue
        for example in result.item.examples:
            problems = tuple(check_example(result.item, example))
            outcomes.append(ExampleResult(result.file, result.item.id, example.name, problems))
    failed = [o for o in outcomes if o.problems]
    if fmt == "junit":
        click.echo(_junit(outcomes))
    else:
        for outcome in outcomes:
            click.echo(f"{'FAIL' if outcome.problems else 'ok  '} {outcome.name} ({outcome.file})")
            for problem in outcome.problems:
                click.echo(f"       {problem}")
        click.echo(
            f"{len(outcomes)} example(s): {len(outcomes) - len(failed)} passed, "
            f"{len(failed)} failed"
        )
    if not outcomes:
        click.echo("no catalog documents found", err=True)
    if failed or not outcomes:
        sys.exit(1)


def _junit(outcomes: list[ExampleResult]) -> str:
    failures = sum(1 for o in outcomes if o.problems)
    suites = ET.Element("testsuites", name="pao catalog test", tests=str(len(outcomes)))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="pao.catalog.examples",
        tests=str(len(outcomes)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time="0",
    )
    for outcome in outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            name=outcome.name,
            classname=PurePath(outcome.file).as_posix(),
            time="0",
        )
        if outcome.problems:
            failure = ET.SubElement(
                case, "failure", message=outcome.problems[0], type="ExpectationFailed"
            )
            failure.text = "\n".join(outcome.problems)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")

"""``pao asyncapi``: print or write the AsyncAPI document of PAO's Kafka API."""

from __future__ import annotations

from pathlib import Path

import click
from pao_common.asyncapi import render_yaml


@click.command(help="Print the AsyncAPI 3.0 document of the Kafka API (generated from code).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to FILE instead of standard output.",
)
@click.option(
    "--check",
    is_flag=True,
    help="With --output: exit 1 if FILE differs from the generated document (for CI).",
)
def asyncapi(output: Path | None, check: bool) -> None:
    text = render_yaml()
    if output is None:
        if check:
            raise click.UsageError("--check needs --output FILE")
        click.echo(text, nl=False)
        return
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            raise click.ClickException(
                f"{output} is out of date: run `pao asyncapi --output {output}`"
            )
        click.echo(f"{output} is up to date", err=True)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)

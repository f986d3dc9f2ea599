"""The ``pao`` command: run the platform locally, work with the catalog and requests."""

from __future__ import annotations

import click

from pao_cli.dev import dev


@click.group(help="Platform Automation Orchestrator")
def main() -> None:
    pass


main.add_command(dev)

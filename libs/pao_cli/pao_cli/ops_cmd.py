"""Operational one-shots for deployments: database migrations and topic creation.

``pao dev`` does both itself; Docker Compose and Kubernetes run these as init jobs.
"""

from __future__ import annotations

import asyncio

import click
from pao_common import db
from pao_common.errors import ConfigurationError
from pao_common.kafka import ensure_topics
from pao_common.kafka_security import kafka_security
from pao_common.settings import Settings
from pao_common.topics import Topics


@click.group(name="db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command(help="Create the database if missing and apply pending migrations.")
@click.option("--create/--no-create", default=True, show_default=True)
def migrate(create: bool) -> None:
    settings = Settings()

    async def run() -> list[str]:
        if create:
            await db.ensure_database(settings.database_url)
        return await db.migrate(settings.database_url)

    applied = asyncio.run(run())
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


@click.group(name="kafka", help="Kafka topics.")
def kafka_group() -> None:
    pass


@kafka_group.command(name="create-topics", help="Create the architecture's topics if missing.")
@click.option("--partitions", type=int, default=None, help="Default: PAO_TOPIC_PARTITIONS")
@click.option("--action-type", "action_types", multiple=True, help="Also create pao.actions.<type>")
def create_topics(partitions: int | None, action_types: tuple[str, ...]) -> None:
    settings = Settings()
    try:
        security = kafka_security(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    topics = Topics(settings.topic_suffix)
    names = topics.core() + [topics.actions(t) for t in action_types]
    created = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap,
            names,
            partitions=partitions or settings.topic_partitions,
            security=security,
        )
    )
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or 'all existed'}")

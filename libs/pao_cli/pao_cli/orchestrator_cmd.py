"""``pao orchestrator``: operate the orchestrator's data (rebuild the read models)."""

from __future__ import annotations

import asyncio

import click
from pao_common import db
from pao_common.settings import Settings


@click.group(name="orchestrator", help="The request orchestrator's event store and projections.")
def orchestrator() -> None:
    pass


@orchestrator.command(help="Drop the request projections and rebuild them from the event log.")
@click.option("--database-url", envvar="PAO_DATABASE_URL", default=None, help="PostgreSQL URL")
def rebuild(database_url: str | None) -> None:
    from pao_orchestrator.adapters.postgres import PostgresEventStore
    from pao_orchestrator.projection import rebuild as rebuild_projections

    url = database_url or Settings().database_url

    async def run() -> int:
        pool = await db.create_pool(url, max_size=2)
        try:
            return await rebuild_projections(PostgresEventStore(pool))
        finally:
            await pool.close()

    count = asyncio.run(run())
    click.echo(f"rebuilt request_view: {count} request(s)")

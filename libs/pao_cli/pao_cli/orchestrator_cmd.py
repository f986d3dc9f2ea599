"""``pao orchestrator``: operate the orchestrator's data (rebuild the read models)."""

from __future__ import annotations

import asyncio

import click
from pao_common import db
from pao_common.settings import Settings


@click.group(name="orchestrator", help="The request orchestrator's event store and projections.")
def orchestrator() -> None:
    pass


@orchestrator.command(
    help="Drop the request and resource projections and rebuild them from the event log."
)
@click.option("--database-url", envvar="PAO_DATABASE_URL", default=None, help="PostgreSQL URL")
def rebuild(database_url: str | None) -> None:
    from pao_orchestrator.adapters.postgres import PostgresEventStore
    from pao_orchestrator.projection import rebuild_requests, rebuild_resources

    url = database_url or Settings().database_url

    async def run() -> tuple[int, int]:
        pool = await db.create_pool(url, max_size=2)
        try:
            store = PostgresEventStore(pool)
            return await rebuild_requests(store), await rebuild_resources(store)
        finally:
            await pool.close()

    requests, resources = asyncio.run(run())
    click.echo(f"rebuilt request_view: {requests} request(s)")
    click.echo(f"rebuilt resource_view: {resources} resource(s)")

"""``pao orchestrator rebuild`` against a database of its own."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from click.testing import CliRunner
from pao_cli.main import main


@pytest.mark.integration
def test_rebuild_command_rebuilds_request_view(fresh_database_url: str) -> None:
    database_url = fresh_database_url

    async def rows() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            count: int = await conn.fetchval(
                "SELECT count(DISTINCT stream_id) FROM request_events e"
                " WHERE EXISTS (SELECT 1 FROM request_events s WHERE s.stream_id = e.stream_id"
                " AND s.event_type = 'RequestSubmitted')"
            )
            return count
        finally:
            await conn.close()

    result = CliRunner().invoke(main, ["orchestrator", "rebuild", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"rebuilt request_view: {asyncio.run(rows())} request(s)",
        "rebuilt resource_view: 0 resource(s)",
    ]

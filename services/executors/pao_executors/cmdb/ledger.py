"""What the sync already mirrored: per resource, the version of the last event written.

Kafka redelivers from the last committed offset, in order, so a CI always ends as the
latest event says; but a lone older event (a replay an operator published again, a
consumer group reset to an earlier offset) would rewind it. The ledger remembers the
newest version written per resource, and the sync passes over anything not newer.
The write to ServiceNow comes first, the ledger after: a crash in between repeats an
idempotent write, never skips one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import asyncpg


@dataclass(frozen=True)
class SyncedCi:
    resource_id: str
    version: int
    ci_class: str
    sys_id: str
    install_status: str


class SyncLedger(Protocol):
    async def version(self, resource_id: str) -> int | None:
        """The version of the resource's last event mirrored; None if none was."""
        ...

    async def record(self, synced: SyncedCi) -> None:
        """Remember ``synced``, unless a newer version is remembered already."""
        ...


class PostgresSyncLedger:
    """``cmdb_sync_state`` (migration 0018)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def version(self, resource_id: str) -> int | None:
        value = await self._pool.fetchval(
            "SELECT version FROM cmdb_sync_state WHERE resource_id = $1", resource_id
        )
        return int(value) if value is not None else None

    async def record(self, synced: SyncedCi) -> None:
        await self._pool.execute(
            "INSERT INTO cmdb_sync_state (resource_id, version, ci_class, sys_id, install_status)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (resource_id) DO UPDATE SET version = EXCLUDED.version,"
            " ci_class = EXCLUDED.ci_class, sys_id = EXCLUDED.sys_id,"
            " install_status = EXCLUDED.install_status, synced_at = now()"
            " WHERE cmdb_sync_state.version < EXCLUDED.version",
            synced.resource_id,
            synced.version,
            synced.ci_class,
            synced.sys_id,
            synced.install_status,
        )

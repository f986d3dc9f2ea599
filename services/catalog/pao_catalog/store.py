"""The catalog's version history: the ``VersionStore`` port and its PostgreSQL adapter.

Every accepted version of a catalog document is one row of ``catalog_item_versions``
(``0002_catalog.sql``), keyed by ``(item_id, version)``. Rows are written once; only
``retired_at`` changes. Several catalog replicas may ingest the same directory at the
same moment, so every write is a single statement that settles races in the schema
(``ON CONFLICT`` / ``UPDATE ... WHERE``), and each write says whether *this* call made
the change, so exactly one replica announces it.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from pao_catalog_model.errors import CatalogException


class VersionConflict(CatalogException):
    """A document changed while its version stayed the same (the version must be bumped)."""

    def __init__(self, item_id: str, version: str, recorded_hash: str, new_hash: str) -> None:
        super().__init__(
            f"version {version} of {item_id} is already published with different content "
            f"(recorded {recorded_hash[:12]}, now {new_hash[:12]}); bump metadata.version"
        )
        self.item_id = item_id
        self.version = version
        self.recorded_hash = recorded_hash
        self.new_hash = new_hash


@dataclass(frozen=True)
class StoredVersion:
    """One accepted version of one catalog item."""

    item_id: str
    version: str
    content_hash: str
    document: dict[str, Any]
    source_path: str | None
    published_at: datetime
    retired_at: datetime | None

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class Outcome(enum.Enum):
    INSERTED = "inserted"  # this call recorded a new version
    RESTORED = "restored"  # this call brought a retired version back
    UNCHANGED = "unchanged"  # already recorded and live, same content


class VersionStore(Protocol):
    """Where accepted catalog versions are kept; shared by every catalog replica."""

    async def record(
        self,
        item_id: str,
        version: str,
        content_hash: str,
        document: dict[str, Any],
        source_path: str | None,
    ) -> tuple[Outcome, StoredVersion]:
        """Record a version. Same content as recorded: ``UNCHANGED`` (or ``RESTORED`` if
        it was retired). Different content under a recorded version: ``VersionConflict``."""
        ...

    async def retire(self, item_id: str) -> list[StoredVersion]:
        """Retire every live version of ``item_id``; return those this call retired."""
        ...

    async def history(self, item_id: str | None = None) -> list[StoredVersion]:
        """Every recorded version (retired ones included) of every item, or of one."""
        ...


_COLUMNS = "item_id, version, content_hash, document, source_path, published_at, retired_at"


def _row(row: asyncpg.Record) -> StoredVersion:
    document = row["document"]
    return StoredVersion(
        item_id=row["item_id"],
        version=row["version"],
        content_hash=row["content_hash"],
        document=json.loads(document) if isinstance(document, str) else document,
        source_path=row["source_path"],
        published_at=row["published_at"],
        retired_at=row["retired_at"],
    )


class PostgresVersionStore:
    """``VersionStore`` on the ``catalog_item_versions`` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(
        self,
        item_id: str,
        version: str,
        content_hash: str,
        document: dict[str, Any],
        source_path: str | None,
    ) -> tuple[Outcome, StoredVersion]:
        body = json.dumps(document, default=str, separators=(",", ":"))
        async with self._pool.acquire() as conn:
            inserted = await conn.fetchrow(
                f"INSERT INTO catalog_item_versions"
                f" (item_id, version, content_hash, document, source_path)"
                f" VALUES ($1, $2, $3, $4::jsonb, $5)"
                f" ON CONFLICT (item_id, version) DO NOTHING RETURNING {_COLUMNS}",
                item_id,
                version,
                content_hash,
                body,
                source_path,
            )
            if inserted is not None:
                return Outcome.INSERTED, _row(inserted)
            existing = await _select_version(conn, item_id, version)
            assert existing is not None, "rows are never deleted"
            if existing["content_hash"] != content_hash:
                raise VersionConflict(item_id, version, existing["content_hash"], content_hash)
            if existing["retired_at"] is None:
                return Outcome.UNCHANGED, _row(existing)
            restored = await conn.fetchrow(
                f"UPDATE catalog_item_versions SET retired_at = NULL"
                f" WHERE item_id = $1 AND version = $2 AND retired_at IS NOT NULL"
                f" RETURNING {_COLUMNS}",
                item_id,
                version,
            )
            if restored is not None:
                return Outcome.RESTORED, _row(restored)
            # Another replica restored it between our two statements.
            again = await _select_version(conn, item_id, version)
            assert again is not None
            return Outcome.UNCHANGED, _row(again)

    async def retire(self, item_id: str) -> list[StoredVersion]:
        rows = await self._pool.fetch(
            f"UPDATE catalog_item_versions SET retired_at = now()"
            f" WHERE item_id = $1 AND retired_at IS NULL RETURNING {_COLUMNS}",
            item_id,
        )
        return [_row(r) for r in rows]

    async def history(self, item_id: str | None = None) -> list[StoredVersion]:
        if item_id is None:
            rows = await self._pool.fetch(
                f"SELECT {_COLUMNS} FROM catalog_item_versions ORDER BY item_id, published_at"
            )
        else:
            rows = await self._pool.fetch(
                f"SELECT {_COLUMNS} FROM catalog_item_versions WHERE item_id = $1"
                f" ORDER BY published_at",
                item_id,
            )
        return [_row(r) for r in rows]


async def _select_version(
    conn: asyncpg.Connection, item_id: str, version: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM catalog_item_versions WHERE item_id = $1 AND version = $2",
        item_id,
        version,
    )

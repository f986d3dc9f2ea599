"""Reads of resources: the orchestrator's ``resource_view`` read model.

Who sees a resource: the members of its owner team, and platform admins; nobody else
(not even to learn that it exists: ``get`` answers None). Lists are newest first and
paginated by keyset (``created_at DESC, resource_id DESC``; the cursor is the last row's
pair), which the index ``resource_view_team_newest`` walks for a team's resources.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from pao_gateway.errors import FieldProblem, InvalidSubmission
from pao_gateway.identity import User

_COLUMNS = (
    "resource_id, item_id, item_version, name, owner_team, requester_id, status, inputs,"
    " outputs, requests, active_request_id, active_operation, error, last_version,"
    " created_at, updated_at, decommissioned_at"
)
# The list leaves out the request history (``requests``): GET /resources/{id} has it.
_LIST_COLUMNS = _COLUMNS.replace(" requests,", "")
_JSON_COLUMNS = ("inputs", "outputs", "requests")


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for column in _JSON_COLUMNS:
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    return row


def can_see_resource(user: User, row: dict[str, Any]) -> bool:
    """Members of the owner team and platform admins."""
    return user.is_admin or (row.get("owner_team") is not None and row["owner_team"] in user.teams)


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's ``created_at`` and ``resource_id``."""

    created_at: datetime
    resource_id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.resource_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created_at, resource_id = json.loads(raw)
            at = datetime.fromisoformat(created_at)
            if at.tzinfo is None or not isinstance(resource_id, str):
                raise ValueError("not an aware time and an id")
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidSubmission(
                "invalid cursor",
                [FieldProblem("cursor", "not a cursor this API gave (use the next link)", "query")],
            ) from exc
        return cls(at, resource_id)


@dataclass(frozen=True)
class ResourceFilter:
    team: str | None = None
    item_id: str | None = None
    status: list[str] | None = None
    owner: str | None = None  # the requester's user id


class ResourceReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, resource_id: str) -> dict[str, Any] | None:
        """The resource's row, whoever may see it (the service decides)."""
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM resource_view WHERE resource_id = $1", resource_id
        )
        return _row(record) if record else None

    async def page(
        self, user: User, filters: ResourceFilter, *, limit: int, after: Cursor | None
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` resources ``user`` may see, newest first, after ``after``."""
        args: list[Any] = []
        where: list[str] = []
        if filters.team is not None:
            if not user.is_admin and filters.team not in user.teams:
                return []  # another team's resources: none visible, none told apart
            args.append(filters.team)
            where.append(f"owner_team = ${len(args)}")
        elif not user.is_admin:
            if not user.teams:
                return []
            args.append(list(user.teams))
            where.append(f"owner_team = ANY(${len(args)}::text[])")
        if filters.item_id is not None:
            args.append(filters.item_id)
            where.append(f"item_id = ${len(args)}")
        if filters.status:
            args.append(filters.status)
            where.append(f"status = ANY(${len(args)}::text[])")
        if filters.owner is not None:
            args.append(filters.owner)
            where.append(f"requester_id = ${len(args)}")
        if after is not None:
            args.extend([after.created_at, after.resource_id])
            where.append(f"(created_at, resource_id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        query = (
            f"SELECT {_LIST_COLUMNS} FROM resource_view"
            f" WHERE {' AND '.join(where) or 'TRUE'}"
            f" ORDER BY created_at DESC, resource_id DESC LIMIT ${len(args)}"
        )
        return [_row(r) for r in await self._pool.fetch(query, *args)]

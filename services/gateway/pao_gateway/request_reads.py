"""Reads of requests, through the read contracts their owners publish (migration 0020,
``ownership.toml``): the orchestrator's ``request_view`` and ``request_event_log``, the
notifier's ``request_notifications``; plus the gateway's own submissions that the
orchestrator has not projected yet (they read as status ``submitted``, never as "not
found")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from pao_common import approvals

from pao_gateway.identity import User
from pao_gateway.visibility import sql_filter

_VIEW_COLUMNS = (
    "request_id, item_id, item_version, status, requester_id, requester_teams, requester,"
    " inputs, outputs, steps, ticket, approval, error, last_version, submitted_at,"
    " updated_at, completed_at, change"
)

# Submissions not yet in the view, shaped like view rows.
_PENDING = (
    "SELECT s.request_id, s.item_id, s.item_version, 'submitted' AS status, s.requester_id,"
    " s.requester_teams, s.requester, s.inputs, NULL::jsonb AS outputs, '[]'::jsonb AS steps,"
    " NULL::jsonb AS ticket, NULL::jsonb AS approval, NULL::text AS error,"
    " 0 AS last_version, s.submitted_at, s.submitted_at AS updated_at,"
    " NULL::timestamptz AS completed_at, NULL::jsonb AS change"
    " FROM gateway_submissions s"
)

_JSON_COLUMNS = ("requester", "inputs", "outputs", "steps", "ticket", "approval", "change")


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for column in _JSON_COLUMNS:
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    row["requester_teams"] = list(row.get("requester_teams") or [])
    return row


@dataclass(frozen=True)
class RequestFilter:
    status: list[str] | None = None
    item_id: str | None = None
    requester_id: str | None = None
    team: str | None = None


class RequestReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, request_id: str) -> dict[str, Any] | None:
        """The request's view row, or its pending submission, or None."""
        record = await self._pool.fetchrow(
            f"SELECT {_VIEW_COLUMNS} FROM request_view WHERE request_id = $1", request_id
        )
        if record is None:
            record = await self._pool.fetchrow(f"{_PENDING} WHERE s.request_id = $1", request_id)
        return _row(record) if record else None

    async def page(
        self, user: User, filters: RequestFilter, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """Visible requests, newest first; ``limit`` rows from ``offset``."""
        args: list[Any] = []
        where = [sql_filter(user, args)]
        if filters.status:
            args.append(filters.status)
            where.append(f"r.status = ANY(${len(args)}::text[])")
        if filters.item_id:
            args.append(filters.item_id)
            where.append(f"r.item_id = ${len(args)}")
        if filters.requester_id:
            args.append(filters.requester_id)
            where.append(f"r.requester_id = ${len(args)}")
        if filters.team:
            args.append(filters.team)
            where.append(f"${len(args)} = ANY(r.requester_teams)")
        args.extend([limit, offset])
        query = (
            f"SELECT * FROM (SELECT {_VIEW_COLUMNS} FROM request_view"
            f" UNION ALL {_PENDING} WHERE NOT EXISTS"
            " (SELECT 1 FROM request_view v WHERE v.request_id = s.request_id)) r"
            f" WHERE {' AND '.join(where)}"
            f" ORDER BY r.submitted_at DESC NULLS LAST, r.request_id DESC"
            f" LIMIT ${len(args) - 1} OFFSET ${len(args)}"
        )
        return [_row(r) for r in await self._pool.fetch(query, *args)]

    async def awaiting(self, user: User, *, limit: int = 200) -> list[dict[str, Any]]:
        """Requests whose current approval stage awaits ``user``'s decision, oldest first.

        SQL narrows to the stages naming the user or one of their teams (the visibility
        filter matches the current stage's approvers); ``pao_common.approvals`` then drops
        stages they have decided already and their own requests.
        """
        args: list[Any] = []
        visible = sql_filter(user, args)
        args.append(limit)
        records = await self._pool.fetch(
            f"SELECT {_VIEW_COLUMNS} FROM request_view r"
            f" WHERE r.status = 'awaiting_approval' AND {visible}"
            f" ORDER BY r.submitted_at, r.request_id LIMIT ${len(args)}",
            *args,
        )
        who = user.as_requester()
        out = []
        for row in map(_row, records):
            stage = approvals.stage_from_view(row.get("approval"))
            if row.get("requester_id") == user.id or stage is None:
                continue
            if approvals.awaits(stage, who):
                out.append(row)
        return out

    async def notifications(self, request_id: str) -> list[dict[str, Any]]:
        """What the notifier sent (or tried to) about the request (its
        ``request_notifications``)."""
        records = await self._pool.fetch(
            "SELECT trigger, channel, target, recipients, subject, status, attempts,"
            " last_error, created_at, sent_at FROM request_notifications WHERE request_id = $1"
            " ORDER BY created_at, event_version, channel, target",
            request_id,
        )
        out = []
        for record in records:
            row = dict(record)
            if isinstance(row["recipients"], str):
                row["recipients"] = json.loads(row["recipients"])
            out.append(row)
        return out

    async def events(self, request_id: str, *, after_version: int = 0) -> list[dict[str, Any]]:
        """The stored event log of the request, in order (the orchestrator's
        ``request_event_log``)."""
        records = await self._pool.fetch(
            "SELECT version, event_type, schema_version, data, recorded_at FROM request_event_log"
            " WHERE request_id = $1 AND version > $2 ORDER BY version",
            request_id,
            after_version,
        )
        out = []
        for record in records:
            event = dict(record)
            if isinstance(event["data"], str):
                event["data"] = json.loads(event["data"])
            out.append(event)
        return out

"""PostgreSQL adapters of the ports (asyncpg), tables from migrations 0003_orchestrator.sql,
0009_resources.sql (``resource_view``) and 0013_resource_events.sql (resource streams)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from pao_orchestrator.domain.codec import decode, decode_resource, encode
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.state import TERMINAL
from pao_orchestrator.errors import ConcurrencyError, DuplicateMessage
from pao_orchestrator.ports import Commit, OutboxMessage, Publish, Timer

VIEW_COLUMNS = (
    "request_id",
    "item_id",
    "item_version",
    "status",
    "requester_id",
    "requester_teams",
    "requester",
    "inputs",
    "outputs",
    "steps",
    "ticket",
    "approval",
    "error",
    "idempotency_key",
    "last_version",
    "submitted_at",
    "updated_at",
    "completed_at",
    "change",  # 0017_change_calendar.sql
)
_JSON_COLUMNS = {"requester", "inputs", "outputs", "steps", "ticket", "approval", "change"}

# An upsert keeps the newest row: a replayed or late older version never overwrites it.
_VIEW_CONFLICT = (
    "ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in VIEW_COLUMNS[1:])
    + " WHERE request_view.last_version <= EXCLUDED.last_version"
)
_UPSERT_VIEW = (
    f"INSERT INTO request_view ({', '.join(VIEW_COLUMNS)}) VALUES "
    f"({', '.join(f'${i + 1}' for i in range(len(VIEW_COLUMNS)))}) {_VIEW_CONFLICT}"
)


RESOURCE_VIEW_COLUMNS = (
    "resource_id",
    "item_id",
    "item_version",
    "name",
    "owner_team",
    "requester_id",
    "status",
    "inputs",
    "outputs",
    "requests",
    "active_request_id",
    "active_operation",
    "error",
    "last_version",
    "created_at",
    "updated_at",
    "decommissioned_at",
)
_RESOURCE_JSON_COLUMNS = {"inputs", "outputs", "requests"}
_RESOURCE_VIEW_CONFLICT = (
    "ON CONFLICT (resource_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in RESOURCE_VIEW_COLUMNS[1:])
    + " WHERE resource_view.last_version <= EXCLUDED.last_version"
)
_UPSERT_RESOURCE_VIEW = (
    f"INSERT INTO resource_view ({', '.join(RESOURCE_VIEW_COLUMNS)}) VALUES "
    f"({', '.join(f'${i + 1}' for i in range(len(RESOURCE_VIEW_COLUMNS)))}) "
    f"{_RESOURCE_VIEW_CONFLICT}"
)

# A whole ``Commit`` as ONE statement (a single round trip, atomic on its own): record
# the message id; only if it was new ("go"), append the events (the primary key refuses
# a version someone else appended: UniqueViolation -> ConcurrencyError), queue the outbox
# rows in order, cancel and schedule timers, upsert the projection. Data-modifying CTEs
# always run to completion, each gated on "go". Parameters: $1 message id, $2 stream,
# $3 expected version, $4 the resource stream (NULL: none), $5 its expected version, and
# $6 everything else as one JSON document (``_commit_document``): one ``json.dumps`` and
# one text to encode cost the orchestrator less than the 58 parameters (arrays and the
# views' columns) it had (issue #16). The view rows take their columns' types through
# ``jsonb_populate_record``.
_COMMIT = f"""
WITH recorded AS (
    INSERT INTO processed_messages (message_id, stream_id)
    SELECT $1::text, $2::text WHERE $1::text IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
), go AS (
    SELECT ($1::text IS NULL OR EXISTS (SELECT 1 FROM recorded)) AS ok
), appended AS (
    INSERT INTO request_events (stream_id, version, event_type, schema_version, data, message_id)
    SELECT $2, $3::int + e.n::int, e.event_type, e.schema_version, e.data, $1
    FROM ROWS FROM (jsonb_to_recordset($6::jsonb -> 'events')
            AS (event_type text, schema_version int, data jsonb))
        WITH ORDINALITY AS e(event_type, schema_version, data, n)
    WHERE (SELECT ok FROM go)
), queued AS (
    INSERT INTO outbox (message_id, topic, key, ce_type, body, headers)
    SELECT o.message_id, o.topic, o.key, o.ce_type, o.body,
        jsonb_strip_nulls(jsonb_build_object('traceparent', o.traceparent))
    FROM ROWS FROM (jsonb_to_recordset($6::jsonb -> 'outbox') AS (message_id text,
            topic text, key text, ce_type text, body jsonb, traceparent text))
        WITH ORDINALITY AS o(message_id, topic, key, ce_type, body, traceparent, n)
    WHERE (SELECT ok FROM go)
    ORDER BY o.n
    ON CONFLICT (message_id) DO NOTHING
), cancelled AS (
    DELETE FROM timers
    WHERE timer_id = ANY(ARRAY(SELECT jsonb_array_elements_text($6::jsonb -> 'cancel')))
        AND NOT timer_id = ANY(ARRAY(
            SELECT t ->> 'timer_id' FROM jsonb_array_elements($6::jsonb -> 'timers') t))
        AND (SELECT ok FROM go)
), scheduled AS (
    INSERT INTO timers (timer_id, stream_id, kind, due_at, payload)
    SELECT t.timer_id, $2, t.kind, t.due_at, t.payload
    FROM jsonb_to_recordset($6::jsonb -> 'timers')
        AS t(timer_id text, kind text, due_at timestamptz, payload jsonb)
    WHERE (SELECT ok FROM go)
    ON CONFLICT (timer_id) DO UPDATE SET due_at = EXCLUDED.due_at,
        payload = EXCLUDED.payload, lease_until = NULL
), viewed AS (
    INSERT INTO request_view ({", ".join(VIEW_COLUMNS)})
    SELECT {", ".join(VIEW_COLUMNS)}
    FROM jsonb_populate_record(NULL::request_view, $6::jsonb -> 'view')
    WHERE jsonb_typeof($6::jsonb -> 'view') = 'object' AND (SELECT ok FROM go)
    {_VIEW_CONFLICT}
), resource_appended AS (
    INSERT INTO resource_events (stream_id, version, event_type, schema_version, data, message_id)
    SELECT $4::text, $5::int + e.n::int, e.event_type, e.schema_version, e.data, $1
    FROM ROWS FROM (jsonb_to_recordset($6::jsonb -> 'resource_events')
            AS (event_type text, schema_version int, data jsonb))
        WITH ORDINALITY AS e(event_type, schema_version, data, n)
    WHERE $4::text IS NOT NULL AND (SELECT ok FROM go)
), resource_viewed AS (
    INSERT INTO resource_view ({", ".join(RESOURCE_VIEW_COLUMNS)})
    SELECT {", ".join(RESOURCE_VIEW_COLUMNS)}
    FROM jsonb_populate_record(NULL::resource_view, $6::jsonb -> 'resource_view')
    WHERE $4::text IS NOT NULL
        AND jsonb_typeof($6::jsonb -> 'resource_view') = 'object'
        AND (SELECT ok FROM go)
    {_RESOURCE_VIEW_CONFLICT}
)
SELECT (SELECT ok FROM go)
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _event_rows(events: list[DomainEvent]) -> list[dict[str, Any]]:
    return [
        {"event_type": t, "schema_version": v, "data": d} for t, v, d in (encode(e) for e in events)
    ]


def _commit_document(commit: Commit) -> str:
    """Everything of ``commit`` but its ids and versions, as ``_COMMIT``'s $6."""
    res = commit.resource
    return _dumps(
        {
            "events": _event_rows(commit.events),
            "outbox": [
                {
                    "message_id": m.message_id,
                    "topic": m.topic,
                    "key": m.key,
                    "ce_type": m.ce_type,
                    "body": m.body,
                    "traceparent": m.traceparent,
                }
                for m in commit.outbox
            ],
            "cancel": commit.cancel_timers,
            "timers": [
                {"timer_id": t.timer_id, "kind": t.kind, "due_at": t.due_at, "payload": t.payload}
                for t in commit.timers
            ],
            "view": commit.view,
            "resource_events": _event_rows(res.events) if res is not None else [],
            "resource_view": res.view if res is not None else None,
        }
    )


def _view_args(row: dict[str, Any]) -> list[Any]:
    return [
        _dumps(row[c]) if c in _JSON_COLUMNS and row.get(c) is not None else row.get(c)
        for c in VIEW_COLUMNS
    ]


def _resource_view_args(row: dict[str, Any]) -> list[Any]:
    return [
        _dumps(row[c]) if c in _RESOURCE_JSON_COLUMNS and row[c] is not None else row[c]
        for c in RESOURCE_VIEW_COLUMNS
    ]


def _resource_view_from_record(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for c in _RESOURCE_JSON_COLUMNS:
        if isinstance(row.get(c), str):
            row[c] = json.loads(row[c])
    return row


def _view_from_record(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for c in _JSON_COLUMNS:
        if isinstance(row.get(c), str):
            row[c] = json.loads(row[c])
    row["requester_teams"] = list(row["requester_teams"] or [])
    return row


class PostgresEventStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load(self, stream_id: str, after_version: int = 0) -> list[DomainEvent]:
        rows = await self._pool.fetch(
            "SELECT event_type, schema_version, data::text AS data FROM request_events"
            " WHERE stream_id = $1 AND version > $2 ORDER BY version",
            stream_id,
            after_version,
        )
        return [decode(r["event_type"], r["schema_version"], json.loads(r["data"])) for r in rows]

    async def load_unless_processed(
        self, stream_id: str, message_id: str
    ) -> list[DomainEvent] | None:
        # The events, or a single version-0 row saying the message was seen.
        rows = await self._pool.fetch(
            "SELECT version, event_type, schema_version, data::text AS data"
            " FROM request_events WHERE stream_id = $1 AND NOT EXISTS"
            " (SELECT 1 FROM processed_messages WHERE message_id = $2)"
            " UNION ALL SELECT 0, NULL, NULL, NULL"
            " WHERE EXISTS (SELECT 1 FROM processed_messages WHERE message_id = $2)"
            " ORDER BY 1",
            stream_id,
            message_id,
        )
        if rows and rows[0]["version"] == 0:
            return None
        return [decode(r["event_type"], r["schema_version"], json.loads(r["data"])) for r in rows]

    async def is_processed(self, message_id: str) -> bool:
        found = await self._pool.fetchval(
            "SELECT 1 FROM processed_messages WHERE message_id = $1", message_id
        )
        return found is not None

    async def commit(self, commit: Commit) -> None:
        # One statement, so one round trip and its own transaction (see ``_COMMIT``).
        res = commit.resource
        try:
            recorded = await self._pool.fetchval(
                _COMMIT,
                commit.message_id,
                commit.stream_id,
                commit.expected_version,
                res.stream_id if res is not None else None,
                res.expected_version if res is not None else 0,
                _commit_document(commit),
            )
        except asyncpg.UniqueViolationError as exc:
            # Everything else upserts or skips: only an event version can collide.
            which = f"stream {commit.stream_id} moved past version {commit.expected_version}"
            if res is not None and "resource_events" in str(exc.table_name or ""):
                which = f"resource {res.stream_id} moved past version {res.expected_version}"
            raise ConcurrencyError(which) from exc
        if not recorded:
            raise DuplicateMessage(commit.message_id or "")

    async def prune_processed(self, older_than_s: float) -> int:
        """Forget processed message ids older than ``older_than_s`` (no broker redelivers
        a message that old); return how many."""
        status = await self._pool.execute(
            "DELETE FROM processed_messages WHERE processed_at < now() - make_interval(secs => $1)",
            float(older_than_s),
        )
        return int(status.rsplit(" ", 1)[-1])

    async def streams(self, batch: int = 500) -> AsyncIterator[tuple[str, list[DomainEvent]]]:
        async for stream in self._streams("request_events", batch):
            yield stream

    async def resource_streams(
        self, batch: int = 500
    ) -> AsyncIterator[tuple[str, list[DomainEvent]]]:
        async for stream in self._streams("resource_events", batch):
            yield stream

    async def load_resource(self, resource_id: str) -> list[DomainEvent]:
        rows = await self._pool.fetch(
            "SELECT event_type, schema_version, data::text AS data FROM resource_events"
            " WHERE stream_id = $1 ORDER BY version",
            resource_id,
        )
        return [
            decode_resource(r["event_type"], r["schema_version"], json.loads(r["data"]))
            for r in rows
        ]

    async def _streams(
        self, table: str, batch: int
    ) -> AsyncIterator[tuple[str, list[DomainEvent]]]:
        read = decode_resource if table == "resource_events" else decode
        last = ""
        while True:
            ids = [
                r["stream_id"]
                for r in await self._pool.fetch(
                    f"SELECT DISTINCT stream_id FROM {table} WHERE stream_id > $1"
                    " ORDER BY stream_id LIMIT $2",
                    last,
                    batch,
                )
            ]
            if not ids:
                return
            rows = await self._pool.fetch(
                "SELECT stream_id, event_type, schema_version, data::text AS data"
                f" FROM {table} WHERE stream_id = ANY($1::text[])"
                " ORDER BY stream_id, version",
                ids,
            )
            grouped: dict[str, list[DomainEvent]] = {i: [] for i in ids}
            for r in rows:
                grouped[r["stream_id"]].append(
                    read(r["event_type"], r["schema_version"], json.loads(r["data"]))
                )
            for stream_id in ids:
                yield stream_id, grouped[stream_id]
            last = ids[-1]

    async def replace_views(self, rows: list[dict[str, Any]], *, truncate: bool) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if truncate:
                await conn.execute("TRUNCATE request_view")
            if rows:
                await conn.executemany(_UPSERT_VIEW, [_view_args(r) for r in rows])

    async def views(self) -> dict[str, dict[str, Any]]:
        rows = await self._pool.fetch(f"SELECT {', '.join(VIEW_COLUMNS)} FROM request_view")
        return {r["request_id"]: _view_from_record(r) for r in rows}

    async def replace_resource_views(self, rows: list[dict[str, Any]], *, truncate: bool) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if truncate:
                await conn.execute("TRUNCATE resource_view")
            if rows:
                await conn.executemany(
                    _UPSERT_RESOURCE_VIEW, [_resource_view_args(r) for r in rows]
                )

    async def resource_views(self) -> dict[str, dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {', '.join(RESOURCE_VIEW_COLUMNS)} FROM resource_view"
        )
        return {r["resource_id"]: _resource_view_from_record(r) for r in rows}

    async def open_streams(self) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT request_id FROM request_view WHERE NOT (status = ANY($1::text[]))",
            sorted(TERMINAL),
        )
        return [r["request_id"] for r in rows]


class PostgresOutbox:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def relay(self, publish: Publish, limit: int = 200, *, min_age_s: float = 0.0) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, message_id, topic, key, ce_type, body::text AS body, created_at,"
                " headers->>'traceparent' AS traceparent"
                " FROM outbox WHERE created_at <= now() - make_interval(secs => $2)"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                limit,
                min_age_s,
            )
            if not rows:
                return 0
            await publish(
                [
                    OutboxMessage(
                        message_id=r["message_id"],
                        topic=r["topic"],
                        key=r["key"],
                        ce_type=r["ce_type"],
                        body=json.loads(r["body"]),
                        created_at=r["created_at"],
                        traceparent=r["traceparent"],
                    )
                    for r in rows
                ]
            )
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
            return len(rows)

    async def delete(self, message_ids: list[str]) -> None:
        await self._pool.execute(
            "DELETE FROM outbox WHERE message_id = ANY($1::text[])", message_ids
        )

    async def pending(self) -> int:
        count: int = await self._pool.fetchval("SELECT count(*) FROM outbox")
        return count


class PostgresTimerStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim_due(
        self, now: datetime, limit: int = 100, lease_s: float = 30.0
    ) -> list[Timer]:
        rows = await self._pool.fetch(
            "UPDATE timers SET lease_until = $1::timestamptz + make_interval(secs => $3)"
            " WHERE timer_id IN (SELECT timer_id FROM timers WHERE due_at <= $1"
            "   AND (lease_until IS NULL OR lease_until < $1)"
            "   ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING timer_id, stream_id, kind, due_at, payload::text AS payload",
            now,
            limit,
            lease_s,
        )
        return sorted(
            (
                Timer(
                    timer_id=r["timer_id"],
                    stream_id=r["stream_id"],
                    kind=r["kind"],
                    due_at=r["due_at"],
                    payload=json.loads(r["payload"]),
                )
                for r in rows
            ),
            key=lambda t: t.due_at,
        )

    async def next_due(self) -> datetime | None:
        due: datetime | None = await self._pool.fetchval(
            "SELECT min(GREATEST(due_at, COALESCE(lease_until, due_at))) FROM timers"
        )
        return due

"""In-memory adapters of the ports, for unit tests: same contract, one process only."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pao_catalog_model.model import CatalogItem
from pao_catalog_model.versions import latest_version

from pao_orchestrator.domain.codec import decode, decode_resource, encode
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.state import TERMINAL
from pao_orchestrator.errors import ConcurrencyError, DuplicateMessage, ItemNotFound
from pao_orchestrator.ports import Commit, OutboxMessage, Publish, Timer


@dataclass
class MemoryDatabase:
    """The tables, shared by the in-memory adapters (like one PostgreSQL database)."""

    events: dict[str, list[tuple[str, int, dict[str, Any], str | None]]] = field(
        default_factory=dict
    )
    processed: set[str] = field(default_factory=set)
    outbox: list[OutboxMessage] = field(default_factory=list)
    queued_at: dict[str, float] = field(default_factory=dict)  # message id -> monotonic time
    timers: dict[str, Timer] = field(default_factory=dict)
    leases: dict[str, datetime] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    resource_events: dict[str, list[tuple[str, int, dict[str, Any], str | None]]] = field(
        default_factory=dict
    )
    resource_views: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class InMemoryEventStore:
    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self.db = db or MemoryDatabase()

    async def load(self, stream_id: str, after_version: int = 0) -> list[DomainEvent]:
        stored = self.db.events.get(stream_id, [])
        # Stored encoded, like the database: decoding here exercises the codec.
        return [decode(t, v, copy.deepcopy(d)) for t, v, d, _ in stored[after_version:]]

    async def load_unless_processed(
        self, stream_id: str, message_id: str
    ) -> list[DomainEvent] | None:
        if await self.is_processed(message_id):
            return None
        return await self.load(stream_id)

    async def is_processed(self, message_id: str) -> bool:
        return message_id in self.db.processed

    async def commit(self, commit: Commit) -> None:
        async with self.db.lock:
            if commit.message_id is not None and commit.message_id in self.db.processed:
                raise DuplicateMessage(commit.message_id)
            stream = self.db.events.get(commit.stream_id, [])
            if commit.events and len(stream) != commit.expected_version:
                raise ConcurrencyError(
                    f"stream {commit.stream_id} moved past version {commit.expected_version}"
                )
            res = commit.resource
            res_stream = self.db.resource_events.get(res.stream_id, []) if res else []
            if res is not None and res.events and len(res_stream) != res.expected_version:
                raise ConcurrencyError(
                    f"resource {res.stream_id} moved past version {res.expected_version}"
                )
            if commit.message_id is not None:
                self.db.processed.add(commit.message_id)
            if commit.events:
                self.db.events[commit.stream_id] = stream + [
                    (*encode(e), commit.message_id) for e in commit.events
                ]
            known = {m.message_id for m in self.db.outbox}
            for m in commit.outbox:
                if m.message_id not in known:
                    self.db.outbox.append(m)
                    self.db.queued_at[m.message_id] = time.monotonic()
            for timer_id in commit.cancel_timers:
                self.db.timers.pop(timer_id, None)
                self.db.leases.pop(timer_id, None)
            for timer in commit.timers:
                self.db.timers[timer.timer_id] = timer
                self.db.leases.pop(timer.timer_id, None)
            if commit.view is not None:
                self._upsert(commit.view)
            if res is not None:
                self.db.resource_events[res.stream_id] = res_stream + [
                    (*encode(e), commit.message_id) for e in res.events
                ]
                self._upsert_resource(res.view)

    def _upsert_resource(self, row: dict[str, Any]) -> None:
        current = self.db.resource_views.get(row["resource_id"])
        if current is None or current["last_version"] <= row["last_version"]:
            self.db.resource_views[row["resource_id"]] = copy.deepcopy(row)

    async def load_resource(self, resource_id: str) -> list[DomainEvent]:
        stored = self.db.resource_events.get(resource_id, [])
        return [decode_resource(t, v, copy.deepcopy(d)) for t, v, d, _ in stored]

    async def resource_streams(
        self, batch: int = 500
    ) -> AsyncIterator[tuple[str, list[DomainEvent]]]:
        for stream_id in sorted(self.db.resource_events):
            yield stream_id, await self.load_resource(stream_id)

    async def replace_resource_views(self, rows: list[dict[str, Any]], *, truncate: bool) -> None:
        async with self.db.lock:
            if truncate:
                self.db.resource_views.clear()
            for row in rows:
                self._upsert_resource(row)

    async def resource_views(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.db.resource_views)

    def _upsert(self, row: dict[str, Any]) -> None:
        current = self.db.views.get(row["request_id"])
        if current is None or current["last_version"] <= row["last_version"]:
            self.db.views[row["request_id"]] = copy.deepcopy(row)

    async def streams(self, batch: int = 500) -> AsyncIterator[tuple[str, list[DomainEvent]]]:
        for stream_id in sorted(self.db.events):
            yield stream_id, await self.load(stream_id)

    async def replace_views(self, rows: list[dict[str, Any]], *, truncate: bool) -> None:
        async with self.db.lock:
            if truncate:
                self.db.views.clear()
            for row in rows:
                self._upsert(row)

    async def views(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.db.views)

    async def open_streams(self) -> list[str]:
        return [rid for rid, row in self.db.views.items() if row["status"] not in TERMINAL]


class InMemoryOutbox:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        self._claimed: set[str] = set()

    async def relay(self, publish: Publish, limit: int = 200, *, min_age_s: float = 0.0) -> int:
        oldest = time.monotonic() - min_age_s
        batch = [
            m
            for m in self.db.outbox
            if m.message_id not in self._claimed and self.db.queued_at[m.message_id] <= oldest
        ][:limit]
        if not batch:
            return 0
        ids = {m.message_id for m in batch}
        self._claimed |= ids
        try:
            await publish(batch)
            await self.delete(list(ids))
        finally:
            self._claimed -= ids
        return len(batch)

    async def delete(self, message_ids: list[str]) -> None:
        gone = set(message_ids)
        self.db.outbox = [m for m in self.db.outbox if m.message_id not in gone]
        for message_id in gone:
            self.db.queued_at.pop(message_id, None)

    async def pending(self) -> int:
        return len(self.db.outbox)


class InMemoryTimerStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    async def claim_due(
        self, now: datetime, limit: int = 100, lease_s: float = 30.0
    ) -> list[Timer]:
        async with self.db.lock:
            due = sorted(
                (
                    t
                    for t in self.db.timers.values()
                    if t.due_at <= now
                    and (t.timer_id not in self.db.leases or self.db.leases[t.timer_id] < now)
                ),
                key=lambda t: t.due_at,
            )[:limit]
            for t in due:
                self.db.leases[t.timer_id] = now + timedelta(seconds=lease_s)
            return due

    async def next_due(self) -> datetime | None:
        moments = [
            max(t.due_at, self.db.leases.get(t.timer_id, t.due_at)) for t in self.db.timers.values()
        ]
        return min(moments, default=None)


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2025, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


class InMemoryItemCatalog:
    """Catalog items held in a dict: ``{(item_id, version): CatalogItem}``."""

    def __init__(self, items: list[CatalogItem] | None = None) -> None:
        self.items: dict[tuple[str, str], CatalogItem] = {}
        self.retired: set[tuple[str, str]] = set()
        for item in items or []:
            self.add(item)

    def add(self, item: CatalogItem) -> None:
        self.items[(item.metadata.id, item.metadata.version)] = item

    async def get(self, item_id: str, version: str | None = None) -> CatalogItem:
        if version is not None:
            item = self.items.get((item_id, version))
            if item is None:
                raise ItemNotFound(f"catalog item {item_id!r} has no version {version!r}")
            return item
        live = [v for (i, v) in self.items if i == item_id and (i, v) not in self.retired]
        chosen = latest_version(live)
        if chosen is None:
            raise ItemNotFound(f"unknown catalog item {item_id!r}")
        return self.items[(item_id, chosen)]

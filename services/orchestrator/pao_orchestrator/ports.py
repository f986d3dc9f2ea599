"""The orchestrator's ports: what the service layer needs from storage, time and the catalog.

Adapters: ``adapters.postgres`` (production) and ``adapters.memory`` (unit tests), both
checked by the one contract test class in ``tests/orchestrator/test_store_contract.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pao_catalog_model.model import CatalogItem
from pao_common.cloudevents import CloudEvent

from pao_orchestrator.domain.events import DomainEvent

SOURCE = "pao-orchestrator"


@dataclass(frozen=True)
class OutboxMessage:
    """A message to publish once the commit that produced it is durable."""

    message_id: str
    topic: str
    key: str | None
    ce_type: str
    body: dict[str, Any]
    created_at: datetime | None = None
    traceparent: str | None = None  # the trace of the message whose handling produced it

    def cloudevent(self) -> CloudEvent:
        extra = {"time": self.created_at} if self.created_at else {}
        return CloudEvent(
            id=self.message_id,
            type=self.ce_type,
            source=SOURCE,
            subject=self.key,
            data=self.body,
            traceparent=self.traceparent,
            **extra,
        )


@dataclass(frozen=True)
class Timer:
    timer_id: str
    stream_id: str
    kind: str
    due_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class ResourceAppend:
    """The events a commit appends to a resource's stream, and its new ``resource_view`` row.

    ``expected_version`` is checked like the request stream's: a resource someone else
    changed since it was loaded fails the whole commit with ``ConcurrencyError``.
    """

    stream_id: str
    expected_version: int
    events: list[DomainEvent]
    view: dict[str, Any]


@dataclass(frozen=True)
class Commit:
    """Everything one handled message changes, written in ONE transaction."""

    stream_id: str
    expected_version: int
    events: list[DomainEvent] = field(default_factory=list)
    message_id: str | None = None
    outbox: list[OutboxMessage] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    cancel_timers: list[str] = field(default_factory=list)
    view: dict[str, Any] | None = None
    resource: ResourceAppend | None = None


@dataclass(frozen=True)
class StoredEvent:
    stream_id: str
    version: int
    event: DomainEvent
    message_id: str | None


class EventStore(Protocol):
    """Request streams, the processed-message ledger and the projection, written atomically."""

    async def load(self, stream_id: str, after_version: int = 0) -> list[DomainEvent]:
        """The stream's events with version > ``after_version``, in order (upcast)."""
        ...

    async def is_processed(self, message_id: str) -> bool:
        """Whether a commit recorded ``message_id`` already."""
        ...

    async def load_unless_processed(
        self, stream_id: str, message_id: str
    ) -> list[DomainEvent] | None:
        """``load(stream_id)``, or None when ``message_id`` was recorded already (one trip)."""
        ...

    async def commit(self, commit: Commit) -> None:
        """Append events at ``expected_version + 1..``, record the message id, add outbox
        rows and timers, delete ``cancel_timers``, upsert ``view``, and append ``resource``
        (its events at its ``expected_version + 1..``, its view row): all or nothing.

        Raises ``ConcurrencyError`` when another writer appended to the stream (or to the
        resource's stream) since it was loaded, ``DuplicateMessage`` when the message id
        was recorded before.
        """
        ...

    async def load_resource(self, resource_id: str) -> list[DomainEvent]:
        """The resource stream's events in order (upcast); empty for an unknown resource."""
        ...

    def resource_streams(self, batch: int = 500) -> AsyncIterator[tuple[str, list[DomainEvent]]]:
        """Every resource stream with its events (for rebuilding ``resource_view``)."""
        ...

    async def replace_resource_views(self, rows: list[dict[str, Any]], *, truncate: bool) -> None:
        """Write ``resource_view`` rows (after emptying it when ``truncate``)."""
        ...

    async def resource_views(self) -> dict[str, dict[str, Any]]:
        """Every ``resource_view`` row by resource id (tests and checks)."""
        ...

    def streams(self, batch: int = 500) -> AsyncIterator[tuple[str, list[DomainEvent]]]:
        """Every stream with its events (for rebuilding projections)."""
        ...

    async def replace_views(self, rows: list[dict[str, Any]], *, truncate: bool) -> None:
        """Write projection rows (after emptying the projection when ``truncate``)."""
        ...

    async def views(self) -> dict[str, dict[str, Any]]:
        """Every projection row by request id (tests and checks)."""
        ...

    async def open_streams(self) -> list[str]:
        """Ids of requests not in a terminal state (reconciliation on start)."""
        ...


Publish = Callable[[list[OutboxMessage]], Awaitable[None]]


class Outbox(Protocol):
    """Committed messages waiting to be published."""

    async def relay(self, publish: Publish, limit: int = 200, *, min_age_s: float = 0.0) -> int:
        """Claim up to ``limit`` unsent rows at least ``min_age_s`` old that no other relay
        holds (oldest first), hand them to ``publish`` and delete them once it returned;
        return how many. If ``publish`` raises, the rows stay for the next attempt (so a
        message may go out twice, never zero times).
        """
        ...

    async def delete(self, message_ids: list[str]) -> None:
        """Forget rows published by other means (the relay's fast path)."""
        ...

    async def pending(self) -> int:
        """How many rows wait to be published."""
        ...


class TimerStore(Protocol):
    """Durable timers; firing is done by handling the timer's message, which deletes it."""

    async def claim_due(
        self, now: datetime, limit: int = 100, lease_s: float = 30.0
    ) -> list[Timer]:
        """Due timers not leased by anyone, leased to the caller for ``lease_s`` seconds.

        Two claimers never get the same timer while its lease runs; a claimer that dies
        lets the lease lapse and another fires it (idempotently, by the timer's id).
        """
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest timer comes due (None if there is none)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class ItemCatalog(Protocol):
    """The published catalog versions (the catalog service's API: ``adapters.catalog``)."""

    async def get(self, item_id: str, version: str | None = None) -> CatalogItem:
        """The catalog item ``item_id`` at ``version``; the highest non-retired semver
        when ``version`` is None. Raises ``ItemNotFound``. (A pinned version is served even
        when retired: a request in flight keeps its version.)
        """
        ...

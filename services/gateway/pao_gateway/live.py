"""Live request status for SSE streams.

Each gateway replica consumes ``pao.requests.events`` in a consumer group of its
own (every replica sees every event) and fans the events out to the streams open
on it. A stream starts with the current state from the read model, then forwards
newer events (by version) and ends after a terminal status. The read model is
re-read every ``poll_s`` while nothing arrives, so a stream never hangs on an
event the replica missed (e.g. one published while its consumer was joining).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from pao_common.cloudevents import CloudEvent
from pao_common.messages import Message, RequestEvent

from pao_gateway.request_reads import RequestReader

TERMINAL_STATUSES = frozenset(
    {"completed", "failed", "rejected", "expired", "cancelled", "rolled_back"}
)


class LiveEvents:
    """In-process fan-out of request events to the streams listening for them."""

    def __init__(self) -> None:
        self._listeners: defaultdict[str, set[asyncio.Queue[RequestEvent]]] = defaultdict(set)

    async def on_event(self, message: Message, event: CloudEvent) -> None:
        """Subscriber of ``pao.requests.events``."""
        if isinstance(message, RequestEvent):
            for queue in self._listeners.get(message.request_id, ()):
                queue.put_nowait(message)

    @contextlib.contextmanager
    def listen(self, request_id: str) -> Iterator[asyncio.Queue[RequestEvent]]:
        queue: asyncio.Queue[RequestEvent] = asyncio.Queue()
        self._listeners[request_id].add(queue)
        try:
            yield queue
        finally:
            listeners = self._listeners[request_id]
            listeners.discard(queue)
            if not listeners:
                del self._listeners[request_id]

    def listening(self, request_id: str) -> int:
        return len(self._listeners.get(request_id, ()))


def _sse(event: str, data: Any, event_id: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"event": event, "data": json.dumps(data, default=str)}
    if event_id is not None:
        item["id"] = str(event_id)
    return item


async def request_stream(
    request_id: str,
    *,
    hub: LiveEvents,
    reader: RequestReader,
    render: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    poll_s: float,
    last_event_id: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """SSE items: ``state`` (the request), ``event`` (one request event), ``end``."""
    with hub.listen(request_id) as queue:
        row = await reader.get(request_id)
        if row is None:
            return
        last = int(row["last_version"] or 0)
        if last_event_id is not None and last_event_id < last:
            for stored in await reader.events(request_id, after_version=last_event_id):
                yield _sse("event", {"request_id": request_id, **stored}, stored["version"])
        yield _sse("state", await render(row), last)
        status = row["status"]
        while status not in TERMINAL_STATUSES:
            try:
                message = await asyncio.wait_for(queue.get(), poll_s)
            except TimeoutError:
                fresh = await reader.get(request_id)
                if fresh is not None and int(fresh["last_version"] or 0) > last:
                    last, status = int(fresh["last_version"]), fresh["status"]
                    yield _sse("state", await render(fresh), last)
                continue
            if message.version <= last:
                continue
            last, status = message.version, message.status
            yield _sse("event", message.model_dump(mode="json"), last)
        yield _sse("end", {"request_id": request_id, "status": status})

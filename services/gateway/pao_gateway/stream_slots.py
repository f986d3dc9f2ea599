"""A cap on the live (SSE) streams one user holds open on this replica.

A stream holds a connection, a queue and a read-model poll for as long as its request
runs, possibly hours; a client that opens them in a loop would exhaust the replica. A
user may hold ``per_user`` at once here; the next one is refused with 429 (and a
``Retry-After``: a slot frees when one of their streams ends, which cannot be foretold).

The count is per replica, not shared through Redis: a shared counter would have to be
leased and renewed for every open stream so that a replica that dies does not leak its
slots, and a user's streams are already spread over replicas by the load balancer. With
N replicas a user may hold up to N times the cap.

A slot is taken after the caller may see the request and released when the response
ends in any way: the request ends, the client disconnects, the server shuts down.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from pao_gateway.errors import TooManyStreams

STREAMS_OPEN = Gauge("pao_gateway_sse_streams_open", "Live streams open on this replica")
STREAMS_REFUSED = MetricCounter(
    "pao_gateway_sse_streams_refused_total", "Live streams refused with 429 (over the cap)"
)
RETRY_AFTER_S = 5


class StreamSlot:
    """One held slot; ``release`` is idempotent."""

    def __init__(self, slots: StreamSlots, user_id: str) -> None:
        self._slots = slots
        self.user_id = user_id
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._release(self.user_id)


class StreamSlots:
    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: Counter[str] = Counter()

    def open_for(self, user_id: str) -> int:
        return self._open[user_id]

    def acquire(self, user_id: str) -> StreamSlot:
        """A slot for one more stream of ``user_id``, or ``TooManyStreams``."""
        if self.per_user > 0 and self._open[user_id] >= self.per_user:
            STREAMS_REFUSED.inc()
            raise TooManyStreams(
                f"{user_id} already follows {self._open[user_id]} requests live"
                f" (at most {self.per_user} streams per user); close one or retry later",
                retry_after_s=RETRY_AFTER_S,
            )
        self._open[user_id] += 1
        STREAMS_OPEN.inc()
        return StreamSlot(self, user_id)

    def _release(self, user_id: str) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]
        STREAMS_OPEN.dec()


class SlotHoldingEventSource(EventSourceResponse):
    """An SSE response that gives its ``slot`` back however it ends."""

    def __init__(self, *args: Any, slot: StreamSlot, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()

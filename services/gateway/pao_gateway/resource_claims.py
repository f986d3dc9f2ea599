"""One day-2 operation at a time per resource, across gateway replicas.

The resource read model (``resource_view``) says a resource is busy only once the
orchestrator has recorded the operation request; between a replica's 202 and that, a
second replica reading the same view would accept a second operation. So the submission
row of an operation and its claim in ``gateway_resource_claims`` are written in one
transaction (``SubmissionStore.record``): ``INSERT ... ON CONFLICT (resource_id)`` lets
exactly one of two racing transactions hold the resource, the other answers 409 naming
the holder (``ResourceBusy``).

A claim is taken over when its holder has ended per the gateway's request view
(``request_view``: completed, failed, rejected, ...), or when it is older than
``PAO_GATEWAY_RESOURCE_CLAIM_STALE_S`` (a holder the orchestrator never recorded; by then
a recorded one keeps the resource busy in ``resource_view`` itself). It is deleted when
this replica sees the holder's terminal event on ``pao.requests.events`` (each replica
follows the holders it knows of: its own claims and those its last sweep read) and by
the periodic ``sweep``. The orchestrator, the only writer of resource events, refuses a
busy or decommissioned resource on its own as well.
"""

from __future__ import annotations

import logging

import asyncpg
from pao_common.cloudevents import CloudEvent
from pao_common.messages import Message, RequestEvent

from pao_gateway.errors import ResourceBusy
from pao_gateway.live import TERMINAL_STATUSES

log = logging.getLogger(__name__)

_ENDED = sorted(TERMINAL_STATUSES)

_TAKE = (
    "INSERT INTO gateway_resource_claims AS c (resource_id, request_id, operation)"
    " VALUES ($1, $2, $3)"
    " ON CONFLICT (resource_id) DO UPDATE"
    " SET request_id = EXCLUDED.request_id, operation = EXCLUDED.operation, claimed_at = now()"
    " WHERE c.claimed_at < now() - make_interval(secs => $4)"
    " OR EXISTS (SELECT 1 FROM request_view v"
    " WHERE v.request_id = c.request_id AND v.status = ANY($5::text[]))"
    " RETURNING request_id"
)


class ResourceClaims:
    def __init__(self, pool: asyncpg.Pool, *, stale_s: float) -> None:
        self._pool = pool
        self._stale_s = stale_s
        self._holders: set[str] = set()  # request ids holding a claim, as far as known here

    async def take(
        self, conn: asyncpg.Connection, resource_id: str, request_id: str, operation: str
    ) -> None:
        """Claim ``resource_id`` for ``request_id`` in ``conn``'s transaction, or raise
        ``ResourceBusy`` naming the request that holds it."""
        won = await conn.fetchval(_TAKE, resource_id, request_id, operation, self._stale_s, _ENDED)
        if won == request_id:
            self._holders.add(request_id)
            return
        holder = await conn.fetchrow(
            "SELECT request_id, operation FROM gateway_resource_claims WHERE resource_id = $1",
            resource_id,
        )
        running = holder["request_id"] if holder else "unknown"
        doing = holder["operation"] if holder else "an operation"
        raise ResourceBusy(
            f"resource {resource_id} is busy with request {running} ({doing})",
            running_request=running,
        )

    def holds(self, request_id: str | None) -> bool:
        """Whether ``request_id`` is a holder this replica knows of (its events matter)."""
        return request_id is not None and request_id in self._holders

    async def release(self, request_id: str) -> int:
        """Delete the claim ``request_id`` holds (its request ended); how many went."""
        self._holders.discard(request_id)
        result = await self._pool.execute(
            "DELETE FROM gateway_resource_claims WHERE request_id = $1", request_id
        )
        return int(result.split()[-1])

    async def on_event(self, message: Message, event: CloudEvent) -> None:
        """Subscriber of ``pao.requests.events``: a holder's terminal event releases it."""
        if (
            isinstance(message, RequestEvent)
            and message.status in TERMINAL_STATUSES
            and message.request_id in self._holders
        ):
            await self.release(message.request_id)

    async def sweep(self) -> int:
        """Delete the claims whose holder ended or that went stale, and learn the holders
        of the rest (other replicas' claims too); how many were deleted."""
        async with self._pool.acquire() as conn:
            gone = await conn.fetch(
                "DELETE FROM gateway_resource_claims c"
                " WHERE c.claimed_at < now() - make_interval(secs => $1)"
                " OR EXISTS (SELECT 1 FROM request_view v"
                " WHERE v.request_id = c.request_id AND v.status = ANY($2::text[]))"
                " RETURNING request_id",
                self._stale_s,
                _ENDED,
            )
            held = await conn.fetch("SELECT request_id FROM gateway_resource_claims")
        self._holders = {r["request_id"] for r in held}
        if gone:
            log.info("released %d resource claim(s) of ended or stale requests", len(gone))
        return len(gone)

    async def holder(self, resource_id: str) -> str | None:
        """The request holding ``resource_id`` now (None: free)."""
        value = await self._pool.fetchval(
            "SELECT request_id FROM gateway_resource_claims WHERE resource_id = $1", resource_id
        )
        return str(value) if value is not None else None

"""The follower and the sender: events in, notification rows out, rows delivered.

``handle`` runs for each public request event (its own consumer group on
``pao.requests.events``, so the orchestrator never waits for it): it remembers the
requester from ``RequestSubmitted`` and writes the notifications ``routing.plan`` gives,
idempotently (ids derive from the event). ``deliver_due`` claims due rows with a lease
(``FOR UPDATE SKIP LOCKED``, so replicas share the work and a crash loses none), sends
them, and records ``sent``, or the error and the next try, or ``failed`` after the last
attempt. Nothing here writes to the request: a failure is visible, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from pao_common.messages import RequestEvent

from pao_notifier.channels import SmtpRelay, Webhooks
from pao_notifier.errors import DeliveryFailed
from pao_notifier.policy import NotificationPolicy
from pao_notifier.routing import Notification, RequestFacts, plan

log = logging.getLogger(__name__)

CLAIM_BATCH = 20


@dataclass
class Retry:
    attempts: int = 5
    backoff_s: float = 2.0
    max_backoff_s: float = 300.0

    def delay_s(self, failed_attempt: int) -> float:
        return float(min(self.backoff_s * 2 ** (failed_attempt - 1), self.max_backoff_s))


@dataclass
class Notifier:
    pool: asyncpg.Pool
    policy: NotificationPolicy
    smtp: SmtpRelay
    webhooks: Webhooks
    system: dict[str, Any] = field(default_factory=dict)
    retry: Retry = field(default_factory=Retry)
    lease_s: float = 60.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    # --- following the events -------------------------------------------------------------

    async def handle(self, event: RequestEvent) -> int:
        """Record what ``event`` causes; the number of new notification rows."""
        if event.event_type == "RequestSubmitted":
            await self.pool.execute(
                "INSERT INTO notifier_requests (request_id, item_id, requester, inputs)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
                event.request_id,
                str(event.data.get("item_id") or ""),
                json.dumps(event.data.get("requester") or {}),
                json.dumps(event.data.get("inputs") or {}),
            )
            return 0
        facts = await self._facts(event.request_id)
        if facts is None:
            return 0  # submitted before the notifier followed the topic
        planned = plan(event, facts, self.policy, self.system)
        added = 0
        for n in planned:
            added += await self._insert(n)
        if added:
            self._wake.set()
        return added

    async def _facts(self, request_id: str) -> RequestFacts | None:
        row = await self.pool.fetchrow(
            "SELECT item_id, requester, inputs FROM notifier_requests WHERE request_id = $1",
            request_id,
        )
        if row is None:
            return None
        return RequestFacts(
            request_id=request_id,
            item_id=row["item_id"],
            requester=json.loads(row["requester"]),
            inputs=json.loads(row["inputs"]),
        )

    async def _insert(self, n: Notification) -> int:
        status = "failed" if n.error else "pending"
        result = await self.pool.execute(
            "INSERT INTO notification_log (notification_id, request_id, event_version, trigger,"
            " channel, target, recipients, subject, body, webhook_url, status, last_error)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (notification_id) DO NOTHING",
            n.notification_id,
            n.request_id,
            n.event_version,
            n.trigger,
            n.channel,
            n.target,
            json.dumps(list(n.recipients)),
            n.subject,
            n.body,
            n.webhook_url,
            status,
            n.error,
        )
        return 1 if result.endswith(" 1") else 0

    # --- delivering -------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Try every due notification once; the number tried."""
        rows = await self.pool.fetch(
            "UPDATE notification_log SET next_attempt_at = now() + make_interval(secs => $1),"
            " attempts = attempts + 1"
            " WHERE notification_id IN (SELECT notification_id FROM notification_log"
            "  WHERE status = 'pending' AND next_attempt_at <= now()"
            "  ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING notification_id, channel, target, recipients, subject, body, webhook_url,"
            " attempts",
            self.lease_s,
            CLAIM_BATCH,
        )
        await asyncio.gather(*(self._deliver(dict(r)) for r in rows))
        return len(rows)

    async def _deliver(self, row: dict[str, Any]) -> None:
        try:
            if row["channel"] == "email":
                recipients = tuple(json.loads(row["recipients"]))
                await self.smtp.send(recipients, row["subject"], row["body"])
            else:
                await self.webhooks.send(
                    row["webhook_url"], row["channel"], row["subject"], row["body"], row["target"]
                )
        except DeliveryFailed as exc:
            await self._failed(row, str(exc))
            return
        await self.pool.execute(
            "UPDATE notification_log SET status = 'sent', sent_at = now(), last_error = NULL"
            " WHERE notification_id = $1",
            row["notification_id"],
        )

    async def _failed(self, row: dict[str, Any], error: str) -> None:
        attempt = int(row["attempts"])
        final = attempt >= self.retry.attempts
        log.warning(
            "notification %s attempt %d failed%s: %s",
            row["notification_id"],
            attempt,
            " (giving up)" if final else "",
            error,
        )
        delay = timedelta(seconds=self.retry.delay_s(attempt))
        await self.pool.execute(
            "UPDATE notification_log SET last_error = $2, status = $3,"
            " next_attempt_at = now() + $4 WHERE notification_id = $1",
            row["notification_id"],
            error,
            "failed" if final else "pending",
            delay,
        )

    async def run(self, poll_s: float = 1.0) -> None:
        """Deliver until cancelled: at once when ``handle`` added rows, else every ``poll_s``."""
        while True:
            try:
                tried = await self.deliver_due()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("notification delivery paused: %s", exc)
                tried = 0
            if tried:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_s)

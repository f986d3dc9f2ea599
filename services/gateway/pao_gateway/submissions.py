"""Accepted submissions: durable in PostgreSQL (``gateway_submissions``), hinted in Redis.

A row is written before its ``SubmitRequest`` is published, so an accepted
request is never lost: if the publish fails (or the gateway dies right after the
insert), ``SubmissionRelay`` publishes it once it is ``grace_s`` old (longer than
a publish may take), claiming rows with ``FOR UPDATE SKIP LOCKED`` so replicas do
not race; the same message id is reused, and the orchestrator is idempotent on it.
When the broker lost its data (the in-memory dev broker on restart), the relay also
re-publishes recent submissions that no projection shows yet.
Idempotency keys are scoped per requester; the Redis hint is written only once the
row is published, so a hint always means "done, answer with this id".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from pao_common.messages import EmergencyOverride, Message, Requester, SubmitRequest
from pao_common.outbox_gauges import set_outbox

from pao_gateway.fastpath import FastPath
from pao_gateway.resource_claims import ResourceClaims

log = logging.getLogger(__name__)


def body_hash(
    item_id: str,
    item_version: str | None,
    inputs: dict[str, Any],
    emergency_reason: str | None = None,
    *,
    resource_id: str | None = None,
    operation: str | None = None,
) -> str:
    body: dict[str, Any] = {"item_id": item_id, "item_version": item_version, "inputs": inputs}
    if emergency_reason is not None:  # absent: the hash of bodies from before overrides
        body["emergency_reason"] = emergency_reason
    if resource_id is not None:  # a day-2 operation: its resource and operation too
        body["resource_id"] = resource_id
        body["operation"] = operation
    canonical = json.dumps(
        body,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def operation_body_hash(
    resource_id: str, operation: str, inputs: dict[str, Any], emergency_reason: str | None
) -> str:
    """The body hash of ``POST /resources/{id}/operations/{op}`` (its path is part of it)."""
    return body_hash(
        "", None, inputs, emergency_reason, resource_id=resource_id, operation=operation
    )


@dataclass(frozen=True)
class Submission:
    request_id: str
    message_id: str
    requester: Requester
    idempotency_key: str | None
    body_hash: str
    item_id: str
    item_version: str
    inputs: dict[str, Any]
    submitted_at: datetime | None = None
    published_at: datetime | None = None
    emergency_reason: str | None = None
    resource_id: str | None = None
    operation: str | None = None

    @classmethod
    def new(
        cls,
        *,
        requester: Requester,
        idempotency_key: str | None,
        body_hash: str,
        item_id: str,
        item_version: str,
        inputs: dict[str, Any],
        emergency_reason: str | None = None,
        resource_id: str | None = None,
        operation: str | None = None,
    ) -> Submission:
        return cls(
            request_id=str(uuid.uuid4()),
            message_id=str(uuid.uuid4()),
            requester=requester,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            item_id=item_id,
            item_version=item_version,
            inputs=inputs,
            emergency_reason=emergency_reason,
            resource_id=resource_id,
            operation=operation,
        )

    def command(self) -> SubmitRequest:
        return SubmitRequest(
            request_id=self.request_id,
            item_id=self.item_id,
            item_version=self.item_version,
            inputs=self.inputs,
            requester=self.requester,
            idempotency_key=self.idempotency_key,
            resource_id=self.resource_id,
            operation=self.operation,
            emergency=(
                EmergencyOverride(reason=self.emergency_reason) if self.emergency_reason else None
            ),
        )


class CommandSender(Protocol):
    """Publishes commands to ``pao.requests.commands``."""

    async def send(self, command: Message, *, request_id: str, message_id: str) -> None:
        """Publish ``command`` keyed by ``request_id`` with CloudEvents id ``message_id``."""
        ...


_COLUMNS = (
    "request_id, message_id, requester, idempotency_key, body_hash, item_id, item_version,"
    " inputs, submitted_at, published_at, emergency_reason, resource_id, operation"
)


def _from_row(row: asyncpg.Record) -> Submission:
    return Submission(
        request_id=row["request_id"],
        message_id=row["message_id"],
        requester=Requester.model_validate_json(row["requester"]),
        idempotency_key=row["idempotency_key"],
        body_hash=row["body_hash"],
        item_id=row["item_id"],
        item_version=row["item_version"],
        inputs=json.loads(row["inputs"]),
        submitted_at=row["submitted_at"],
        published_at=row["published_at"],
        emergency_reason=row["emergency_reason"],
        resource_id=row["resource_id"],
        operation=row["operation"],
    )


_INSERT = (
    "INSERT INTO gateway_submissions (request_id, message_id, requester_id,"
    " requester_teams, requester, idempotency_key, body_hash, item_id,"
    " item_version, inputs, topic, emergency_reason, resource_id, operation)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    " ON CONFLICT (requester_id, idempotency_key) WHERE idempotency_key IS NOT NULL"
    f" DO NOTHING RETURNING {_COLUMNS}"
)


@dataclass(frozen=True)
class IdempotencyHint:
    request_id: str
    body_hash: str


class SubmissionStore:
    """Submissions for one commands ``topic`` (the row says where it is to be published)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        fastpath: FastPath,
        *,
        hint_ttl_s: int,
        topic: str,
        mark_every_s: float = 0.1,
    ) -> None:
        self._pool = pool
        self._mark_every_s = mark_every_s
        self._redis = fastpath
        self._hint_ttl_s = hint_ttl_s
        self._topic = topic
        self._published: list[str] = []
        self._marking: asyncio.Task[None] | None = None

    def _hint_key(self, requester_id: str, key: str) -> str:
        digest = hashlib.sha256(f"{requester_id}\0{key}".encode()).hexdigest()[:40]
        return self._redis.key("idem", digest)

    async def hint(self, requester_id: str, key: str) -> IdempotencyHint | None:
        """The Redis fast path: the published request this key named, if Redis knows it."""
        raw = await self._redis.get(self._hint_key(requester_id, key))
        if raw is None:
            return None
        data = json.loads(raw)
        return IdempotencyHint(data["request_id"], data["body_hash"])

    async def remember(self, submission: Submission) -> None:
        if submission.idempotency_key is None:
            return
        value = json.dumps({"request_id": submission.request_id, "body_hash": submission.body_hash})
        key = self._hint_key(submission.requester.id, submission.idempotency_key)
        await self._redis.set(key, value, self._hint_ttl_s)

    async def by_key(self, requester_id: str, key: str) -> Submission | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway_submissions"
            " WHERE requester_id = $1 AND idempotency_key = $2",
            requester_id,
            key,
        )
        return _from_row(row) if row else None

    async def by_id(self, request_id: str) -> Submission | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway_submissions WHERE request_id = $1", request_id
        )
        return _from_row(row) if row else None

    async def record(
        self, submission: Submission, claims: ResourceClaims | None = None
    ) -> Submission:
        """Insert ``submission``; when its key was taken meanwhile, the earlier one.

        An operation's submission (``resource_id``) claims its resource in the same
        transaction through ``claims``: when another request holds it, nothing is
        written and ``ResourceBusy`` is raised. Any other submission is one statement,
        atomic on its own: no ``BEGIN``/``COMMIT`` round trips around it."""
        if submission.resource_id is None:
            row = await self._pool.fetchrow(_INSERT, *self._insert_args(submission))
            if row is not None:
                return _from_row(row)
        else:
            assert claims is not None, "an operation's submission claims its resource"
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(_INSERT, *self._insert_args(submission))
                if row is not None:
                    await claims.take(
                        conn,
                        submission.resource_id,
                        submission.request_id,
                        submission.operation or "",
                    )
                    return _from_row(row)
        assert submission.idempotency_key is not None
        earlier = await self.by_key(submission.requester.id, submission.idempotency_key)
        assert earlier is not None, "conflicting row vanished"
        return earlier

    def _insert_args(self, submission: Submission) -> tuple[Any, ...]:
        return (
            submission.request_id,
            submission.message_id,
            submission.requester.id,
            list(submission.requester.teams),
            submission.requester.model_dump_json(),
            submission.idempotency_key,
            submission.body_hash,
            submission.item_id,
            submission.item_version,
            json.dumps(submission.inputs),
            self._topic,
            submission.emergency_reason,
            submission.resource_id,
            submission.operation,
        )

    async def mark_published(self, request_id: str) -> None:
        """Record that the command left, in the background and in batches: one UPDATE for
        the marks of ``mark_every_s`` (not one per submission). A late mark publishes
        nothing twice (the relay waits ``grace_s``, far longer, before it takes a row); a
        mark lost in a crash costs one duplicate command, which the orchestrator drops by
        its message id."""
        self._published.append(request_id)
        if self._marking is None or self._marking.done():
            self._marking = asyncio.create_task(self._write_marks())

    async def _write_marks(self) -> None:
        while self._published:
            await asyncio.sleep(self._mark_every_s)
            ids, self._published = self._published, []
            try:
                await self._pool.execute(
                    "UPDATE gateway_submissions SET published_at = now()"
                    " WHERE request_id = ANY($1::text[]) AND published_at IS NULL",
                    ids,
                )
            except Exception as exc:  # the relay publishes them again (same message ids)
                log.warning("marking %d submissions published failed: %r", len(ids), exc)

    async def close(self) -> None:
        """Write the marks still waiting."""
        if self._marking is not None:
            await asyncio.gather(self._marking, return_exceptions=True)


async def publish(
    submission: Submission,
    sender: CommandSender,
    store: SubmissionStore,
    *,
    timeout_s: float = 5.0,
) -> bool:
    """Publish the submission's command once; False (left for the relay) if Kafka fails."""
    if submission.published_at is not None:
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await sender.send(
                submission.command(),
                request_id=submission.request_id,
                message_id=submission.message_id,
            )
    except Exception as exc:  # the row is durable: the relay publishes it later
        log.warning("publishing %s failed, left to the relay: %r", submission.request_id, exc)
        return False
    await store.mark_published(submission.request_id)
    await store.remember(submission)
    return True


class SubmissionRelay:
    """Publishes this topic's submissions whose ``SubmitRequest`` never left (crash,
    broker outage) and, after the broker lost its data, those published but not yet
    projected (a lost command nobody had read). The message id stays the same, so the
    orchestrator records each request once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        sender: CommandSender,
        *,
        topic: str,
        grace_s: float = 10.0,
        republish_window_s: float = 900.0,
        batch: int = 100,
    ) -> None:
        self._pool = pool
        self._sender = sender
        self._topic = topic
        self._grace_s = grace_s
        self._republish_window_s = republish_window_s
        self._batch = batch

    async def refresh_gauges(self) -> None:
        """Set the gateway's outbox gauges: rows of this topic not published yet."""
        row = await self._pool.fetchrow(
            "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(submitted_at)), 0)"
            " AS age FROM gateway_submissions WHERE topic = $1 AND published_at IS NULL",
            self._topic,
        )
        assert row is not None
        set_outbox("gateway", row["n"], float(row["age"]))

    async def run_once(self) -> int:
        """Publish one batch of unsent rows (claimed with SKIP LOCKED); how many were sent."""
        return await self._relay(
            "unsent",
            "s.published_at IS NULL AND s.submitted_at < now() - make_interval(secs => $3)",
            self._grace_s,
        )

    async def republish_unprojected(self) -> int:
        """After a broker data loss: publish again every recent row no projection shows."""
        started = await self._pool.fetchval("SELECT now()")
        total = 0
        while sent := await self._relay(
            "unprojected",
            "s.published_at < $3 AND s.submitted_at > $3 - make_interval(secs => $4)"
            " AND NOT EXISTS (SELECT 1 FROM request_view v WHERE v.request_id = s.request_id)",
            started,
            self._republish_window_s,
        ):
            total += sent
        return total

    async def _relay(self, label: str, condition: str, *args: Any) -> int:
        sent = 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM gateway_submissions s WHERE s.topic = $1 AND {condition}"
                " ORDER BY s.submitted_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED",
                self._topic,
                self._batch,
                *args,
            )
            for row in rows:
                submission = _from_row(row)
                await self._sender.send(
                    submission.command(),
                    request_id=submission.request_id,
                    message_id=submission.message_id,
                )
                await conn.execute(
                    "UPDATE gateway_submissions SET published_at = now() WHERE request_id = $1",
                    submission.request_id,
                )
                sent += 1
        if sent:
            log.info("relay published %d %s submission(s)", sent, label)
        return sent

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # keep relaying whatever happens
                log.warning("submission relay: %r", exc)
            await asyncio.sleep(interval_s)

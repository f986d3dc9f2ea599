"""Deduplication of action commands on their ``command_id``.

Kafka delivers at least once and the orchestrator re-dispatches commands it has
no answer for, so an executor sees some commands twice. The store makes that
harmless: a command already answered is answered again with the stored result
(the same CloudEvent, same id, so the orchestrator's own dedup recognises it);
a command running now is not started a second time. A claim is a lease of
``timeout_s`` plus a grace period: if the executor that took it dies, another
instance may take it over once the lease has expired.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import asyncpg

from pao_common.cloudevents import CloudEvent
from pao_common.messages import CompensateAction, ExecuteAction

Command = ExecuteAction | CompensateAction


@dataclass(frozen=True)
class Claim:
    """The answer to "may I run this command?"."""

    state: Literal["claimed", "completed", "running"]
    result: CloudEvent | None = None  # the stored answer, when ``completed``
    takeover: bool = False  # claimed after an earlier claim's lease expired


class DedupStore(Protocol):
    """Which commands an executor family has taken and what it answered."""

    async def claim(self, command: Command, *, executor: str, owner: str, lease_s: float) -> Claim:
        """Take ``command`` for ``owner`` for ``lease_s`` seconds, atomically.

        ``claimed``: nobody had it, or an earlier claim's lease expired unanswered.
        ``completed``: it was answered; ``result`` is the stored answer to send again.
        ``running``: another claim with a live lease holds it; do nothing.
        """
        ...

    async def complete(self, command_id: str, result: CloudEvent) -> CloudEvent:
        """Record ``result`` as the answer; return the answer to publish.

        If the command was already answered (a takeover raced the original run), the
        first recorded answer wins and is returned, so both publish the same event.
        """
        ...


def _kind(command: Command) -> str:
    return "compensate" if isinstance(command, CompensateAction) else "execute"


class InMemoryDedupStore:
    """For tests and executors without a database: remembers only while the process lives."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._running: dict[str, float] = {}  # command id -> lease expiry
        self._done: dict[str, CloudEvent] = {}
        self.claims: dict[str, int] = {}

    async def claim(self, command: Command, *, executor: str, owner: str, lease_s: float) -> Claim:
        cid = command.command_id
        if cid in self._done:
            return Claim("completed", self._done[cid])
        expires = self._running.get(cid)
        now = self._clock()
        if expires is not None and expires > now:
            return Claim("running")
        self._running[cid] = now + lease_s
        self.claims[cid] = self.claims.get(cid, 0) + 1
        return Claim("claimed", takeover=expires is not None)

    async def complete(self, command_id: str, result: CloudEvent) -> CloudEvent:
        self._running.pop(command_id, None)
        return self._done.setdefault(command_id, result)


_CLAIM = """
INSERT INTO executor_commands AS c
    (command_id, executor, action_type, kind, request_id, step_id, attempt,
     state, owner, lease_expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, now() + make_interval(secs => $9))
ON CONFLICT (command_id) DO UPDATE
    SET owner = EXCLUDED.owner,
        lease_expires_at = EXCLUDED.lease_expires_at,
        claims = c.claims + 1,
        claimed_at = now()
    WHERE c.state = 'running' AND c.lease_expires_at < now()
RETURNING c.claims
"""

_COMPLETE = """
UPDATE executor_commands
   SET state = 'completed', result = $2::jsonb, completed_at = now()
 WHERE command_id = $1 AND state = 'running'
RETURNING true
"""


class PostgresDedupStore:
    """``executor_commands`` in PostgreSQL (migration ``0005_executor.sql``).

    ``pool`` is a pool or a function returning one, as a service's pool only exists
    once its lifespan has connected.
    """

    def __init__(self, pool: asyncpg.Pool | Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    def _get_pool(self) -> asyncpg.Pool:
        return self._pool if isinstance(self._pool, asyncpg.Pool) else self._pool()

    async def claim(self, command: Command, *, executor: str, owner: str, lease_s: float) -> Claim:
        pool = self._get_pool()
        for _ in range(2):
            claims = await pool.fetchval(
                _CLAIM,
                command.command_id,
                executor,
                command.action_type,
                _kind(command),
                command.request_id,
                command.step_id,
                command.attempt,
                owner,
                float(lease_s),
            )
            if claims is not None:
                return Claim("claimed", takeover=claims > 1)
            row = await pool.fetchrow(
                "SELECT state, result FROM executor_commands WHERE command_id = $1",
                command.command_id,
            )
            if row is None:  # pruned between the two statements: claim again
                continue
            if row["state"] == "completed":
                return Claim("completed", CloudEvent.model_validate(json.loads(row["result"])))
            return Claim("running")
        return Claim("running")

    async def complete(self, command_id: str, result: CloudEvent) -> CloudEvent:
        pool = self._get_pool()
        if await pool.fetchval(_COMPLETE, command_id, result.model_dump_json()):
            return result
        existing = await pool.fetchval(
            "SELECT result FROM executor_commands WHERE command_id = $1 AND state = 'completed'",
            command_id,
        )
        if existing is None:  # never claimed here (or pruned): the given answer stands
            return result
        return CloudEvent.model_validate(json.loads(existing))

    async def prune(self, older_than_s: float) -> int:
        """Forget answers older than ``older_than_s``; return how many were dropped."""
        status = await self._get_pool().execute(
            "DELETE FROM executor_commands WHERE state = 'completed'"
            " AND completed_at < now() - make_interval(secs => $1)",
            float(older_than_s),
        )
        return int(status.rsplit(" ", 1)[-1])

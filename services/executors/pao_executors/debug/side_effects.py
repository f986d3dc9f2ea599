"""The debug executor's side effects, recorded so tests can count them.

Every execution of a debug action (and of its compensation) writes one row, before
it does anything else. A test that crashes and restarts parts of the platform can
then prove that each side effect happened exactly once per recorded attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

import asyncpg
from pao_common.executor import ActionContext
from pao_common.service import ServiceRuntime

Kind = Literal["execute", "compensate"]


@dataclass(frozen=True)
class SideEffect:
    command_id: str
    request_id: str
    step_id: str
    action_type: str
    attempt: int
    kind: Kind
    at: datetime


class SideEffectLog(Protocol):
    """Where the debug executor records what it did."""

    async def record(self, ctx: ActionContext, kind: Kind) -> SideEffect:
        """Record one side effect of the command in ``ctx``; return it."""
        ...


def _effect(ctx: ActionContext, kind: Kind) -> SideEffect:
    return SideEffect(
        ctx.command_id,
        ctx.request_id,
        ctx.step_id,
        ctx.action_type,
        ctx.attempt,
        kind,
        datetime.now(UTC),
    )


class InMemorySideEffectLog:
    def __init__(self) -> None:
        self.effects: list[SideEffect] = []

    async def record(self, ctx: ActionContext, kind: Kind) -> SideEffect:
        effect = _effect(ctx, kind)
        self.effects.append(effect)
        return effect


class PostgresSideEffectLog:
    """Rows of ``debug_side_effects`` (migration ``0005_executor.sql``).

    The pool is the service's, attached by ``connect`` once the service has started.
    """

    def __init__(self, pool: asyncpg.Pool | None = None) -> None:
        self._pool = pool

    async def connect(self, runtime: ServiceRuntime) -> None:
        self._pool = runtime.db

    async def record(self, ctx: ActionContext, kind: Kind) -> SideEffect:
        if self._pool is None:
            raise RuntimeError("PostgresSideEffectLog is not connected")
        effect = _effect(ctx, kind)
        await self._pool.execute(
            "INSERT INTO debug_side_effects"
            " (command_id, request_id, step_id, action_type, attempt, kind, at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            effect.command_id,
            effect.request_id,
            effect.step_id,
            effect.action_type,
            effect.attempt,
            effect.kind,
            effect.at,
        )
        return effect

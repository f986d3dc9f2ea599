"""What an action handler gets besides its inputs: the command, progress, secrets, breakers."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pao_common.executor.breaker import CircuitBreaker, CircuitBreakers
from pao_common.executor.secrets import SecretResolver
from pao_common.messages import CompensateAction, ExecuteAction

ProgressReporter = Callable[[str, float | None], Awaitable[None]]


@dataclass
class ActionContext:
    """The command being run and the executor's services, for one handler call."""

    command: ExecuteAction | CompensateAction
    executor: str
    log: logging.Logger | logging.LoggerAdapter[logging.Logger]
    secrets: SecretResolver
    breakers: CircuitBreakers
    deadline: float
    _report: ProgressReporter = field(repr=False)

    @property
    def command_id(self) -> str:
        return self.command.command_id

    @property
    def request_id(self) -> str:
        return self.command.request_id

    @property
    def step_id(self) -> str:
        return self.command.step_id

    @property
    def attempt(self) -> int:
        return self.command.attempt

    @property
    def action_type(self) -> str:
        """The type the command named (for a compensation: the action being undone)."""
        return self.command.action_type

    @property
    def compensating(self) -> bool:
        return isinstance(self.command, CompensateAction)

    @property
    def outputs(self) -> dict[str, Any]:
        """For a compensation: the outputs of the step being undone; else empty."""
        return dict(self.command.outputs) if isinstance(self.command, CompensateAction) else {}

    def remaining_s(self) -> float:
        """Seconds left of the command's ``timeout_s``."""
        return max(0.0, self.deadline - time.monotonic())

    async def progress(self, message: str, percent: float | None = None) -> None:
        """Report progress (``ActionProgress``); secrets in ``message`` are masked."""
        await self._report(message, percent)

    def secret(self, name: str) -> str:
        """Secret ``name`` (env ``PAO_SECRET_<NAME>`` or ``$PAO_SECRETS_DIR/<name>``), redacted."""
        return self.secrets.get(name)

    def circuit(self, target: str) -> CircuitBreaker:
        """The circuit breaker of ``target``: ``async with ctx.circuit(host): ...``."""
        return self.breakers.get(target)

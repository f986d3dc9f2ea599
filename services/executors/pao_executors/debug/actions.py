"""The ``debug`` action types: for dry runs, tests and benchmarks.

- ``debug.log``: logs ``message``; outputs ``{message, logged_at}``.
- ``debug.wait``: sleeps ``seconds``, reporting progress; outputs ``{waited_s}``.
- ``debug.fail``: fails (or succeeds) per attempt as its ``pattern`` says.

Each has a compensation that logs what it undoes and can be told to fail. Every
execution and compensation first records a side effect (``SideEffectLog``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pao_common.errors import ActionError
from pao_common.executor import ActionContext, Executor
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from pao_executors.debug.side_effects import SideEffectLog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class LogInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(description="What to log; returned as the output ``message``")
    level: Literal["debug", "info", "warning"] = "info"
    outputs: dict[str, Any] = Field(default_factory=dict, description="Extra outputs to return")


class WaitInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=3600, description="How long to sleep")
    progress_every_s: float = Field(1.0, gt=0, description="Report progress this often")


class FailInputs(BaseModel):
    """Per attempt, one letter of ``pattern`` says what happens; the last one repeats.

    ``F`` fail with ``error`` (``retryable`` as given), ``S`` succeed, ``H`` hang until
    the command's timeout, ``X`` raise an unexpected exception (a bug in a handler).
    ``fail_attempts: N`` (or ``times: N``) is short for ``pattern: "F" * N + "S"``;
    ``message`` is another name for ``error``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    pattern: str = Field("F", pattern=r"^[FSHX]+$")
    fail_attempts: int | None = Field(
        None, ge=0, le=100, validation_alias=AliasChoices("fail_attempts", "times")
    )
    retryable: bool = False
    error: str = Field(
        "debug.fail failed as asked", validation_alias=AliasChoices("error", "message")
    )
    outputs: dict[str, Any] = Field(default_factory=dict, description="Outputs on success")

    @model_validator(mode="after")
    def _shorthand(self) -> FailInputs:
        if self.fail_attempts is not None:
            if "pattern" in self.model_fields_set:
                raise ValueError("give either pattern or fail_attempts, not both")
            self.pattern = "F" * self.fail_attempts + "S"
        return self

    def outcome(self, attempt: int) -> str:
        return self.pattern[min(attempt, len(self.pattern)) - 1]


class UndoInputs(BaseModel):
    """Inputs of every debug compensation (the step's own inputs are accepted and ignored)."""

    model_config = ConfigDict(extra="ignore")
    fail_compensation: bool = False
    compensation_retryable: bool = False
    compensation_error: str = "debug compensation failed as asked"


def build_executor(side_effects: SideEffectLog) -> Executor:
    """The debug executor, recording its side effects in ``side_effects``."""
    executor = Executor("debug", description="Actions for dry runs, tests and benchmarks")
    log = logging.getLogger("pao.executor.debug")

    @executor.action("debug.log", inputs=LogInputs)
    async def log_message(inputs: LogInputs, ctx: ActionContext) -> dict[str, Any]:
        """Log ``message``; outputs ``{message, logged_at}``."""
        effect = await side_effects.record(ctx, "execute")
        log.log(LEVELS[inputs.level], "debug.log: %s", inputs.message)
        return {**inputs.outputs, "message": inputs.message, "logged_at": effect.at.isoformat()}

    @executor.action("debug.wait", inputs=WaitInputs)
    async def wait(inputs: WaitInputs, ctx: ActionContext) -> dict[str, Any]:
        """Sleep ``seconds``, reporting progress every ``progress_every_s``."""
        await side_effects.record(ctx, "execute")
        loop = asyncio.get_running_loop()
        started = loop.time()
        remaining = inputs.seconds
        while remaining > 0:
            await asyncio.sleep(min(remaining, inputs.progress_every_s))
            remaining = inputs.seconds - (loop.time() - started)
            done = min(100.0, 100.0 * (1 - max(remaining, 0) / inputs.seconds))
            await ctx.progress(f"waited {inputs.seconds - max(remaining, 0):.1f}s", done)
        return {"waited_s": round(loop.time() - started, 3)}

    @executor.action("debug.fail", inputs=FailInputs)
    async def fail(inputs: FailInputs, ctx: ActionContext) -> dict[str, Any]:
        """Fail or succeed per attempt as ``pattern`` says."""
        await side_effects.record(ctx, "execute")
        outcome = inputs.outcome(ctx.attempt)
        if outcome == "S":
            return {"attempt": ctx.attempt, **inputs.outputs}
        if outcome == "H":
            await asyncio.sleep(ctx.remaining_s() + 3600)
        if outcome == "X":
            raise RuntimeError(f"debug.fail crashed on attempt {ctx.attempt} as asked")
        raise ActionError(f"{inputs.error} (attempt {ctx.attempt})", retryable=inputs.retryable)

    async def undo(inputs: UndoInputs, ctx: ActionContext) -> dict[str, Any]:
        await side_effects.record(ctx, "compensate")
        log.info("compensating %s of step %s", ctx.action_type, ctx.step_id)
        if inputs.fail_compensation:
            raise ActionError(inputs.compensation_error, retryable=inputs.compensation_retryable)
        return {"compensated": ctx.action_type, "undone_outputs": ctx.outputs}

    for action_type in ("debug.log", "debug.wait", "debug.fail"):
        executor.compensate(
            action_type, inputs=UndoInputs, description=f"Log the undo of {action_type}"
        )(undo)
    return executor

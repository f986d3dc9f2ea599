"""The ``debug`` action types: for dry runs, tests and benchmarks.

- ``debug.log``: logs ``message``; outputs ``{message, logged_at}``.
- ``debug.wait``: sleeps ``seconds``, reporting progress; outputs ``{waited_s}``.
- ``debug.fail``: fails (or succeeds) per attempt as its ``pattern`` says.

Their inputs are declared in ``pao_catalog_model.action_inputs.debug``. Each has a compensation that
logs what it undoes and can be told to fail. Every execution and compensation first
records a side effect (``SideEffectLog``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pao_catalog_model.action_inputs.debug import FailInputs, LogInputs, UndoInputs, WaitInputs
from pao_common.errors import ActionError
from pao_common.executor import ActionContext, Executor

from pao_executors.debug.side_effects import SideEffectLog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


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

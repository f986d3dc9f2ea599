"""The ``debug`` executor: ``debug.log``, ``debug.wait``, ``debug.fail``.

``python -m pao_executors.debug --port N`` runs it; ``pao dev`` starts it.
"""

from __future__ import annotations

from fastapi import FastAPI
from pao_common.executor import Executor, create_executor_app
from pao_common.settings import Settings

from pao_executors.debug.actions import build_executor
from pao_executors.debug.side_effects import PostgresSideEffectLog


def service_executor() -> Executor:
    """The debug executor as the service runs it: side effects in PostgreSQL."""
    side_effects = PostgresSideEffectLog()
    executor = build_executor(side_effects)
    executor.on_start(side_effects.connect)
    return executor


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_executor_app(service_executor(), settings)


__all__ = ["build_executor", "create_app", "service_executor"]

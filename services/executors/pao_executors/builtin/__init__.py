"""Every built-in executor in one service: ``python -m pao_executors.builtin --port N``.

What ``pao dev`` runs (``pao dev --separate-executors``: one process each, as Kubernetes
and docker-compose deploy them): one process and one consumer over all the built-in
``pao.actions.<family>`` topics, each family served by its own ``ActionRunner`` as in a
service of its own (``pao_common.executor.create_executors_app``). An idle consumer
polls the bundled broker several times a second, so one instead of five is most of an
idle laptop's executor cost (issue #16).
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI
from pao_common.executor import Executor, create_executors_app
from pao_common.settings import Settings

from pao_executors.registry import EXECUTOR_SERVICES

SERVICE_NAME = "executors"


def service_executors() -> list[Executor]:
    """Each built-in executor as its own service builds it: ``service_executor()`` of every
    module in ``pao_executors.registry.EXECUTOR_SERVICES``, in that order."""
    executors = []
    for module in EXECUTOR_SERVICES.values():
        executor = importlib.import_module(module).service_executor()
        if not isinstance(executor, Executor):
            raise TypeError(f"{module}.service_executor() gave {executor!r}, not an Executor")
        executors.append(executor)
    return executors


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_executors_app(service_executors(), settings, name=SERVICE_NAME)


__all__ = ["SERVICE_NAME", "create_app", "service_executors"]

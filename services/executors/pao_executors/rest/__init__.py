"""The ``rest`` executor: HTTP calls to platform APIs, safely.

``python -m pao_executors.rest --port N`` runs it (``pao dev`` starts it). Settings:
``pao_executors.rest.config.RestSettings`` (``PAO_REST_ALLOWED_HOSTS``,
``PAO_REST_ALLOW_PRIVATE``, ...). The action is described in ``actions``, the SSRF
rules in ``guard``, the output expressions in ``extract``.
"""

from __future__ import annotations

from fastapi import FastAPI
from pao_common.executor import Executor, create_executor_app
from pao_common.settings import Settings

from pao_executors.rest.actions import build_executor
from pao_executors.rest.config import RestSettings
from pao_executors.rest.guard import TargetGuard


def service_executor() -> Executor:
    return build_executor(RestSettings())


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_executor_app(service_executor(), settings)


__all__ = [
    "RestSettings",
    "TargetGuard",
    "build_executor",
    "create_app",
    "service_executor",
]

"""The ``github-workflow`` executor: GitHub Actions ``workflow_dispatch``, waited for.

``python -m pao_executors.github --port N`` runs it; ``pao dev`` starts it. Settings:
``pao_executors.github.settings`` (``PAO_GITHUB_API_URL``, ``PAO_GITHUB_TOKEN`` or
``PAO_GITHUB_APP_ID`` + the App key secret); docs/executors.md has the inputs.
"""

from __future__ import annotations

from fastapi import FastAPI
from pao_common.executor import Executor, create_executor_app
from pao_common.settings import Settings

from pao_executors.github.actions import build_executor
from pao_executors.github.settings import GithubSettings
from pao_executors.github.workflow import WorkflowRuns


def service_executor(settings: GithubSettings | None = None) -> Executor:
    settings = settings or GithubSettings()
    return build_executor(WorkflowRuns(settings), settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_executor_app(service_executor(), settings)


__all__ = ["GithubSettings", "WorkflowRuns", "build_executor", "create_app", "service_executor"]

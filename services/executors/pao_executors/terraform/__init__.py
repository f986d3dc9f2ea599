"""The ``terraform`` executor: Terraform Cloud / Enterprise runs, or the local CLI.

``python -m pao_executors.terraform --port N`` runs it; ``pao dev`` starts it. Settings:
``pao_executors.terraform.settings`` (``PAO_TFC_URL``, ``PAO_TFC_TOKEN``,
``PAO_TFC_ORGANIZATION``, ``PAO_TERRAFORM_MODE`` ...); docs/executors.md has the inputs.
"""

from __future__ import annotations

from fastapi import FastAPI
from pao_common.executor import Executor, create_executor_app
from pao_common.settings import Settings

from pao_executors.terraform.actions import TerraformBackend, build_executor, create_backend
from pao_executors.terraform.settings import TerraformSettings


def service_executor(settings: TerraformSettings | None = None) -> Executor:
    settings = settings or TerraformSettings()
    return build_executor(create_backend(settings), settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_executor_app(service_executor(), settings)


__all__ = [
    "TerraformBackend",
    "TerraformSettings",
    "build_executor",
    "create_app",
    "create_backend",
    "service_executor",
]

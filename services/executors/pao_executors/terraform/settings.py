"""Settings of the ``terraform`` executor, from ``PAO_*`` environment variables.

Terraform Cloud / Enterprise: ``PAO_TFC_URL`` (default ``https://app.terraform.io``),
``PAO_TFC_TOKEN`` (a team or user API token) and ``PAO_TFC_ORGANIZATION`` (a step may
name another with ``organization``). Local CLI: ``PAO_TERRAFORM_BINARY`` (default:
``terraform``, else ``tofu``, on PATH), ``PAO_TERRAFORM_MODULES_DIR`` (where a step's
``module`` is looked up) and ``PAO_TERRAFORM_WORK_DIR`` (one directory per request).
``PAO_TERRAFORM_MODE``: ``tfc``, ``cli`` or ``auto`` (TFC when a token is set).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TerraformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_", extra="ignore")

    tfc_url: str = Field("https://app.terraform.io", description="TFC/TFE host, no /api/v2")
    tfc_token: SecretStr | None = None
    tfc_organization: str | None = None
    terraform_mode: Literal["auto", "tfc", "cli"] = "auto"
    terraform_binary: str | None = Field(None, description="Path or name; default terraform|tofu")
    terraform_modules_dir: Path = Path("terraform")
    terraform_work_dir: Path = Path(".pao/terraform")
    terraform_poll_initial_s: float = Field(1.0, gt=0)
    terraform_poll_max_s: float = Field(10.0, gt=0)
    terraform_http_timeout_s: float = Field(30.0, gt=0)
    terraform_circuit_failures: int = Field(5, ge=1)
    terraform_circuit_reset_s: float = Field(30.0, gt=0)

    @property
    def mode(self) -> Literal["tfc", "cli"]:
        if self.terraform_mode != "auto":
            return self.terraform_mode
        return "tfc" if self.tfc_token is not None else "cli"

    def binary(self) -> str | None:
        """The Terraform or OpenTofu executable to run, if there is one."""
        if self.terraform_binary:
            return shutil.which(self.terraform_binary) or None
        return shutil.which("terraform") or shutil.which("tofu")

"""What a ``terraform`` step takes (``with:``), in either of the executor's modes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TerraformInputs(BaseModel):
    """A plan and apply (or destroy) in one workspace; its compensation takes the same."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,90}$",
        description="Workspace name (TFC), or the state directory's name (CLI)",
    )
    organization: str | None = Field(None, description="TFC organization; default from settings")
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Terraform variables; a value from secret('...') is stored as sensitive",
    )
    env_variables: dict[str, str] = Field(
        default_factory=dict, description="Environment variables of the run (provider settings)"
    )
    sensitive: list[str] = Field(
        default_factory=list, description="More variable names to store as sensitive"
    )
    destroy: bool = Field(False, description="Run a destroy instead of an apply")
    message: str | None = Field(None, description="Run message shown in TFC")
    confirm: bool = Field(
        True, description="Confirm a plan waiting for approval; false: wait for a person"
    )
    destroy_on_error: bool = Field(
        False, description="When the apply errors, destroy what it created before failing"
    )
    module: str | None = Field(
        None, description="CLI mode: the module directory, relative to PAO_TERRAFORM_MODULES_DIR"
    )

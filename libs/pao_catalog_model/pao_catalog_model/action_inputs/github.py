"""What a ``github-workflow`` step takes (``with:``); its compensation takes the same."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

InputValue = str | bool | int | float


class WorkflowInputs(BaseModel):
    """Dispatch ``workflow`` in ``owner/repo`` at ``ref`` and wait for its run."""

    model_config = ConfigDict(extra="forbid")

    owner: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    workflow: str = Field(
        pattern=r"^([\w.-]+\.ya?ml|\d+)$", description="File name (deploy.yml) or workflow id"
    )
    ref: str = Field("main", min_length=1, description="Branch or tag to run the workflow at")
    inputs: dict[str, InputValue] = Field(
        default_factory=dict, description="The workflow_dispatch inputs (at most 25 with ours)"
    )
    correlation_input: str | None = Field(
        "correlation_id",
        description="Input that carries PAO's correlation id; the workflow's run-name must "
        "show it. null: take the newest run dispatched after ours (only safe without races)",
    )
    artifact: str | None = Field(
        "outputs", description="Artifact whose JSON file becomes the step's outputs"
    )
    artifact_file: str = Field("outputs.json", description="JSON file inside the artifact")
    artifact_required: bool = Field(False, description="Fail the step when the artifact is missing")

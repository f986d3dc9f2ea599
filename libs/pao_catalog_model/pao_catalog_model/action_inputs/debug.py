"""The ``debug`` action types' inputs: for dry runs, tests and benchmarks.

- ``debug.log``: logs ``message``; outputs ``{message, logged_at}``.
- ``debug.wait``: sleeps ``seconds``, reporting progress; outputs ``{waited_s}``.
- ``debug.fail``: fails (or succeeds) per attempt as its ``pattern`` says.

Each one's compensation takes ``UndoInputs``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator


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

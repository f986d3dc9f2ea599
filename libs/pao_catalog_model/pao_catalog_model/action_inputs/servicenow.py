"""The ``servicenow`` actions' inputs: the orchestrator opens and closes a request's change
request with them (no catalog step names these actions)."""

from __future__ import annotations

from pao_common.servicenow_changes import CORRELATION_DISPLAY
from pydantic import BaseModel, ConfigDict, Field


class OpenChangeInputs(BaseModel):
    """The change request's fields, as the Table API takes them."""

    model_config = ConfigDict(extra="forbid")
    short_description: str = Field(min_length=1, max_length=160)
    description: str = ""
    type: str = Field("normal", pattern=r"^(standard|normal|emergency)$")
    risk: str = Field("3", pattern=r"^[1-4]$", description="1 very high ... 4 low")
    start_date: str | None = Field(None, description="Planned start, YYYY-MM-DD HH:MM:SS UTC")
    end_date: str | None = Field(None, description="Planned end, YYYY-MM-DD HH:MM:SS UTC")
    state: str | None = Field(None, description="-4 (Assess) asks for the approval")
    correlation_id: str = Field(min_length=1, description="The PAO request id")
    correlation_display: str = CORRELATION_DISPLAY
    assignment_group: str | None = None
    category: str | None = None


class CloseChangeInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sys_id: str | None = Field(None, description="Default: found by correlation_id")
    correlation_id: str = Field(min_length=1)
    state: str = Field(pattern=r"^(3|4)$", description="3 closed, 4 canceled")
    close_code: str | None = Field(None, pattern=r"^(successful|successful_issues|unsuccessful)$")
    close_notes: str = ""

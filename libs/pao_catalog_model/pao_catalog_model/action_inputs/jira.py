"""The ``jira`` action's inputs: create a ticket (once), or act on an existing one.

A step (and the orchestrator's manual ticket) always names the ticket's ``project``,
``issue_type`` and ``summary``; with ``issue_key`` the action comments on / transitions
that issue instead of creating one. The compensation takes ``UndoInputs``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

CUSTOM_FIELD = re.compile(r"^customfield_\d+$")


class TicketInputs(BaseModel):
    """Inputs of ``jira``: a ticket to create (or ``issue_key`` to act on)."""

    model_config = ConfigDict(extra="forbid")
    project: str = Field(min_length=1, description="Project key, e.g. NETSEC")
    issue_type: str = Field(min_length=1, description="Issue type name, e.g. Task")
    summary: str = Field(min_length=1, description="One line; newlines become spaces")
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list, description="Component names")
    priority: str | None = Field(None, description="Priority name, e.g. High")
    assignee: str | None = Field(None, description="User name (Server/DC) or account id (Cloud)")
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="customfield_<n> -> value, as the REST API takes it"
    )
    issue_key: str | None = Field(None, description="Act on this existing issue instead")
    comment: str | None = Field(None, description="Comment to add (after creating)")
    transition: str | None = Field(None, description="Transition (name or id) to take")

    @field_validator("summary")
    @classmethod
    def _summary(cls, summary: str) -> str:
        if not summary.strip():
            raise ValueError("a ticket's summary cannot be blank")
        return summary

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if not label or any(c.isspace() for c in label):
                raise ValueError(f"JIRA labels cannot be empty or contain spaces: {label!r}")
        return labels

    @field_validator("custom_fields")
    @classmethod
    def _custom(cls, fields: dict[str, Any]) -> dict[str, Any]:
        bad = [name for name in fields if not CUSTOM_FIELD.match(name)]
        if bad:
            raise ValueError(f"custom field ids must look like customfield_10010, got {bad}")
        return fields


class UndoInputs(BaseModel):
    """Inputs of the ``jira`` compensation (the step's own inputs are accepted and ignored)."""

    model_config = ConfigDict(extra="ignore")
    issue_key: str | None = Field(None, description="Default: the step's output key")
    comment: str | None = Field(None, description="Default: says which request undid it")
    close: bool = Field(True, description="Also transition the ticket to a done status")
    resolution: str = "Won't Do"

"""The state of one request: a frozen value, the fold of its events (see ``evolve``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pao_common.approvals import StageState
from pao_common.change_calendar import ChangeClassName
from pao_common.messages import Requester
from pydantic import BaseModel, ConfigDict, Field

RequestStatus = Literal[
    "new",
    "submitted",
    "awaiting_approval",
    "approved",
    "scheduled",
    "awaiting_change_approval",
    "rejected",
    "expired",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "rolling_back",
    "rolled_back",
    "fallback_to_manual",
]
StepStatus = Literal[
    "pending",
    "skipped",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
    "compensating",
    "compensated",
]

TERMINAL: frozenset[str] = frozenset(
    {"rejected", "expired", "completed", "failed", "cancelled", "rolled_back"}
)

# The manual fulfilment (and the fallback to it) runs as one step of this id.
TICKET_STEP = "manual-ticket"
TICKET_ACTION = "jira"
# The change request in the ITSM tool: its calls answer as this step id (not a plan step).
CHANGE_STEP = "change-request"


class StepState(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    action_type: str
    status: StepStatus = "pending"
    attempts: int = 0
    phase: Literal["execute", "compensate"] = "execute"
    # The attempt in flight (None while waiting for a retry timer or when settled).
    command_id: str | None = None
    compensation_attempts: int = 0
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ApprovalState(BaseModel):
    model_config = ConfigDict(frozen=True)
    required: bool = True
    approver_teams: tuple[str, ...] = ()
    approver_users: tuple[str, ...] = ()
    decided_by: str | None = None
    decision: Literal["approved", "rejected", "expired"] | None = None
    comment: str | None = None
    expires_at: datetime | None = None
    refused: tuple[str, ...] = ()
    # staged approvals: the stages begun so far (approvers resolved), the current one's
    # index, and how many the rule has in all
    stage: int = 0
    stage_count: int = 1
    stages: tuple[StageState, ...] = ()

    @property
    def current(self) -> StageState | None:
        return self.stages[self.stage] if self.stage < len(self.stages) else None


class FreezeState(BaseModel):
    """What the change calendar did to the request: the window it met, until when, how."""

    model_config = ConfigDict(frozen=True)
    window: str | None = None
    action: Literal["hold", "escalate", "deny"] | None = None
    until: datetime | None = None
    calendar_version: str | None = None
    holds: int = 0
    released_at: datetime | None = None
    # windows whose extra approval stage was asked (approved: it is not asked again)
    escalated: tuple[str, ...] = ()
    overridden_by: str | None = None
    override_reason: str | None = None
    overridden_at: datetime | None = None


class ChangeRequestState(BaseModel):
    """The request's change request in the ITSM tool (ServiceNow), and the call in flight."""

    model_config = ConfigDict(frozen=True)
    system: str = "servicenow"
    phase: Literal["opening", "open", "closing", "closed"] = "opening"
    sys_id: str | None = None
    number: str | None = None
    url: str | None = None
    approval: str | None = None  # requested -> approved | rejected
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    # the call out at the executor (None: settled, or waiting for retry_at)
    command_id: str | None = None
    attempts: int = 0
    close_attempts: int = 0
    last_error: str | None = None
    retry_at: datetime | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    close_state: str | None = None
    close_code: str | None = None
    close_found: bool | None = None


class Ticket(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    url: str | None = None


class RequestState(BaseModel):
    model_config = ConfigDict(frozen=True)
    request_id: str = ""
    version: int = 0
    status: RequestStatus = "new"
    item_id: str | None = None
    item_version: str | None = None
    mode: Literal["manual", "automated"] | None = None
    requester: Requester | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    # A day-2 operation request: the resource it acts on and the operation's id.
    resource_id: str | None = None
    operation: str | None = None
    approval: ApprovalState | None = None
    change_class: ChangeClassName = "standard"
    emergency_reason: str | None = None
    freeze: FreezeState | None = None
    change_request: ChangeRequestState | None = None
    steps: tuple[StepState, ...] = ()
    ticket: Ticket | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    # Cancel was asked while a step was in flight; rollback ends in ``cancelled``.
    cancelling: bool = False
    cancelled_by: Requester | None = None
    cancel_reason: str | None = None
    rollback_failed: bool = False
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def step(self, step_id: str) -> StepState | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def replace_step(self, step: StepState) -> tuple[StepState, ...]:
        return tuple(step if s.id == step.id else s for s in self.steps)

    def in_flight(self) -> StepState | None:
        """The step with an attempt out at an executor (or waiting for its retry)."""
        return next((s for s in self.steps if s.status in ("running", "compensating")), None)

"""The events of a request's stream: past tense, versioned, never changed once recorded.

Every event class has an ``event_type`` (its stored name) and a ``schema_version``.
A change to an event's fields bumps its schema version and adds an upcaster in
``codec.py`` (``UPCASTERS``) that reads the old shape; the golden replays in
``tests/orchestrator/golden`` fail when that is forgotten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pao_common.change_calendar import ChangeClassName
from pao_common.messages import Requester
from pydantic import BaseModel, ConfigDict, Field

Phase = Literal["execute", "compensate"]


class DomainEvent(BaseModel):
    """Base of every stored event; ``occurred_at`` is the time the deciding message brought."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    occurred_at: datetime


class FieldProblem(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str
    message: str


class PlannedStep(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    action_type: str


# --- submission and approval -------------------------------------------------------------


class RequestSubmitted(DomainEvent):
    """A request was accepted for processing; ``item_version`` pins the catalog version."""

    event_type: ClassVar[str] = "RequestSubmitted"
    schema_version: ClassVar[int] = 3
    request_id: str
    item_id: str
    item_version: str | None
    mode: Literal["manual", "automated"] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    requester: Requester
    idempotency_key: str | None = None
    steps: tuple[PlannedStep, ...] = ()
    # v3: the change class the item (or operation) gives these inputs, and the reason of
    # an emergency override of the change calendar the requester asked for
    change_class: ChangeClassName = "standard"
    emergency_reason: str | None = None


class RequestRejectedInvalid(DomainEvent):
    """The submission named an unknown item or failed the item's form validation."""

    event_type: ClassVar[str] = "RequestRejectedInvalid"
    errors: tuple[FieldProblem, ...]


class ApprovalRequested(DomainEvent):
    """A stage of the approval began (``stage`` 0 is the first; one-rule items have one)."""

    event_type: ClassVar[str] = "ApprovalRequested"
    approver_teams: tuple[str, ...] = ()
    approver_users: tuple[str, ...] = ()
    expires_at: datetime | None = None
    stage: int = 0
    stage_name: str | None = None
    rule: Literal["any", "all", "n"] = "any"
    n: int | None = None
    stages: int = 1


class ApprovalRefused(DomainEvent):
    """Someone who may not decide tried to approve or reject: recorded, not obeyed."""

    event_type: ClassVar[str] = "ApprovalRefused"
    by: Requester
    decision: Literal["approve", "reject"]
    reason: str
    code: str | None = None  # not_approver | self_approval | already_decided


class ApprovalRecorded(DomainEvent):
    """An approval that counts towards its stage but does not end the approval."""

    event_type: ClassVar[str] = "ApprovalRecorded"
    by: Requester
    comment: str | None = None
    stage: int = 0


class RequestApproved(DomainEvent):
    event_type: ClassVar[str] = "RequestApproved"
    by: Requester
    comment: str | None = None
    stage: int = 0


class RequestRejected(DomainEvent):
    event_type: ClassVar[str] = "RequestRejected"
    by: Requester
    comment: str | None = None
    stage: int = 0


class ApprovalExpired(DomainEvent):
    event_type: ClassVar[str] = "ApprovalExpired"
    stage: int = 0


# --- the change calendar ----------------------------------------------------------------


class RequestScheduled(DomainEvent):
    """A change window holds the request: it waits in ``scheduled`` until ``until``."""

    event_type: ClassVar[str] = "RequestScheduled"
    window: str
    until: datetime
    change_class: ChangeClassName
    calendar_version: str
    hold: int = 1  # the how-many-th hold of this request (its timer's id)


class RequestReleased(DomainEvent):
    """The window that held the request ended; it starts now."""

    event_type: ClassVar[str] = "RequestReleased"
    window: str
    hold: int = 1


class ChangeEscalated(DomainEvent):
    """A change window asks an extra approval stage of ``team`` (the next ApprovalRequested)."""

    event_type: ClassVar[str] = "ChangeEscalated"
    window: str
    until: datetime
    team: str
    change_class: ChangeClassName
    calendar_version: str


class ChangeDenied(DomainEvent):
    """A change window refuses the change; the request ends ``rejected``."""

    event_type: ClassVar[str] = "ChangeDenied"
    window: str
    until: datetime
    change_class: ChangeClassName
    calendar_version: str


class FreezeOverridden(DomainEvent):
    """The requester's emergency override let the change past a window, for ``reason``."""

    event_type: ClassVar[str] = "FreezeOverridden"
    window: str
    action: Literal["hold", "escalate", "deny"]
    until: datetime
    by: Requester
    reason: str
    calendar_version: str


class FreezeOverrideRefused(DomainEvent):
    """An emergency override was asked by someone without the calendar's emergency role."""

    event_type: ClassVar[str] = "FreezeOverrideRefused"
    window: str
    by: Requester
    reason: str
    role: str | None = None


# --- the change request in the ITSM tool (ServiceNow) ----------------------------------


class ChangeRequestOpening(DomainEvent):
    """PAO asked the ITSM tool to open the request's change request (``fields`` as sent);
    the request waits in ``awaiting_change_approval``."""

    event_type: ClassVar[str] = "ChangeRequestOpening"
    system: str = "servicenow"
    attempt: int
    command_id: str
    fields: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float


class ChangeRequestOpened(DomainEvent):
    """The change request exists: its ``number`` (CHG...), ``sys_id`` and form ``url``."""

    event_type: ClassVar[str] = "ChangeRequestOpened"
    sys_id: str
    number: str | None = None
    url: str | None = None
    approval: str | None = None
    state: str | None = None


class ChangeRequestCallFailed(DomainEvent):
    """A call to the ITSM tool (``open`` or ``close``) failed; tried again at ``retry_at``
    (None: given up, the tool refused it)."""

    event_type: ClassVar[str] = "ChangeRequestCallFailed"
    call: Literal["open", "close"]
    attempt: int
    command_id: str | None = None
    error: str
    retry_at: datetime | None = None


class ChangeRequestApproved(DomainEvent):
    """The change request was approved in the ITSM tool; the fulfilment may start."""

    event_type: ClassVar[str] = "ChangeRequestApproved"
    sys_id: str
    number: str | None = None
    by: str | None = None
    comment: str | None = None


class ChangeRequestRejected(DomainEvent):
    """The change request was rejected in the ITSM tool; the request ends ``rejected``."""

    event_type: ClassVar[str] = "ChangeRequestRejected"
    sys_id: str
    number: str | None = None
    by: str | None = None
    comment: str | None = None


class ChangeRequestClosing(DomainEvent):
    """The request ended: PAO asked the ITSM tool to close its change request (``fields``)."""

    event_type: ClassVar[str] = "ChangeRequestClosing"
    attempt: int
    command_id: str
    fields: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float


class ChangeRequestClosed(DomainEvent):
    """The change request is closed (``state`` 3) or canceled (4) with the outcome;
    ``found`` false: there was none to close (it was never created)."""

    event_type: ClassVar[str] = "ChangeRequestClosed"
    sys_id: str | None = None
    number: str | None = None
    state: str | None = None
    close_code: str | None = None
    found: bool = True


# --- fulfilment --------------------------------------------------------------------------


class FulfilmentStarted(DomainEvent):
    event_type: ClassVar[str] = "FulfilmentStarted"
    mode: Literal["manual", "automated"]


class StepSkipped(DomainEvent):
    event_type: ClassVar[str] = "StepSkipped"
    step_id: str
    reason: str


class StepAdded(DomainEvent):
    """A step joined the plan after submission (the manual ticket of a fallback)."""

    event_type: ClassVar[str] = "StepAdded"
    step_id: str
    action_type: str


class StepDispatched(DomainEvent):
    """An attempt of a step (or of its rollback, ``phase`` compensate) was sent out."""

    event_type: ClassVar[str] = "StepDispatched"
    step_id: str
    action_type: str
    phase: Phase = "execute"
    attempt: int
    command_id: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float


class StepSucceeded(DomainEvent):
    event_type: ClassVar[str] = "StepSucceeded"
    step_id: str
    attempt: int
    command_id: str
    outputs: dict[str, Any] = Field(default_factory=dict)


class StepFailed(DomainEvent):
    """The step failed for good (not retryable, or out of attempts)."""

    event_type: ClassVar[str] = "StepFailed"
    step_id: str
    attempt: int
    command_id: str | None = None
    error: str
    retryable: bool = False
    # What the executor reported with the failure (e.g. the URL of a failed workflow run).
    outputs: dict[str, Any] = Field(default_factory=dict)
    error_type: str | None = None


class StepTimedOut(DomainEvent):
    event_type: ClassVar[str] = "StepTimedOut"
    step_id: str
    phase: Phase = "execute"
    attempt: int
    command_id: str
    final: bool


class StepRetryScheduled(DomainEvent):
    event_type: ClassVar[str] = "StepRetryScheduled"
    step_id: str
    phase: Phase = "execute"
    attempt: int
    error: str
    delay_s: float
    due_at: datetime


class StepCancelled(DomainEvent):
    event_type: ClassVar[str] = "StepCancelled"
    step_id: str


class TicketCreated(DomainEvent):
    event_type: ClassVar[str] = "TicketCreated"
    step_id: str
    key: str
    url: str | None = None


class TicketResolvedRecorded(DomainEvent):
    event_type: ClassVar[str] = "TicketResolved"
    key: str
    outcome: Literal["done", "wont_do"]
    resolution: str | None = None


# --- rollback, cancellation and the end --------------------------------------------------


class AutomationFailed(DomainEvent):
    """Automation failed for a reason no step event records; rollback follows.

    Every step succeeded (or was skipped) but the request cannot complete: the item's
    outputs did not render (a step returned no ``endpoint`` that an output reads), or
    the item version is gone from the catalog. Like a failed step, it rolls back what
    ran and then ends, or falls back to manual when the item allows it.
    """

    event_type: ClassVar[str] = "AutomationFailed"
    reason: str


class RollbackStarted(DomainEvent):
    event_type: ClassVar[str] = "RollbackStarted"
    reason: str


class StepCompensated(DomainEvent):
    event_type: ClassVar[str] = "StepCompensated"
    step_id: str
    attempt: int
    command_id: str
    outputs: dict[str, Any] = Field(default_factory=dict)


class CompensationFailed(DomainEvent):
    event_type: ClassVar[str] = "CompensationFailed"
    step_id: str
    attempt: int
    command_id: str | None = None
    error: str


class RequestRolledBack(DomainEvent):
    event_type: ClassVar[str] = "RequestRolledBack"


class FallbackToManual(DomainEvent):
    event_type: ClassVar[str] = "FallbackToManual"
    reason: str


class CancellationRequested(DomainEvent):
    """Cancel asked while a step is in flight: its answer is awaited, then rollback runs."""

    event_type: ClassVar[str] = "CancellationRequested"
    by: Requester
    reason: str | None = None


class RequestCancelled(DomainEvent):
    event_type: ClassVar[str] = "RequestCancelled"
    by: Requester | None = None
    reason: str | None = None


class RequestCompleted(DomainEvent):
    event_type: ClassVar[str] = "RequestCompleted"
    outputs: dict[str, Any] = Field(default_factory=dict)


class RequestFailed(DomainEvent):
    event_type: ClassVar[str] = "RequestFailed"
    error: str


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.event_type: cls
    for cls in (
        RequestSubmitted,
        RequestRejectedInvalid,
        ApprovalRequested,
        ApprovalRefused,
        ApprovalRecorded,
        RequestApproved,
        RequestRejected,
        ApprovalExpired,
        RequestScheduled,
        RequestReleased,
        ChangeEscalated,
        ChangeDenied,
        FreezeOverridden,
        FreezeOverrideRefused,
        ChangeRequestOpening,
        ChangeRequestOpened,
        ChangeRequestCallFailed,
        ChangeRequestApproved,
        ChangeRequestRejected,
        ChangeRequestClosing,
        ChangeRequestClosed,
        FulfilmentStarted,
        StepSkipped,
        StepAdded,
        StepDispatched,
        StepSucceeded,
        StepFailed,
        StepTimedOut,
        StepRetryScheduled,
        StepCancelled,
        TicketCreated,
        TicketResolvedRecorded,
        AutomationFailed,
        RollbackStarted,
        StepCompensated,
        CompensationFailed,
        RequestRolledBack,
        FallbackToManual,
        CancellationRequested,
        RequestCancelled,
        RequestCompleted,
        RequestFailed,
    )
}

"""Message contracts on Kafka: one pydantic model per CloudEvents ``type``.

Commands are imperative (``SubmitRequest``), events past tense (``ActionSucceeded``).
The key of every record is the request id, the body is the model as JSON. The
AsyncAPI document is generated from these models (``pao_common.asyncapi``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pao_common.cloudevents import CloudEvent
from pao_common.errors import InvalidMessage


class Message(BaseModel):
    """Base of every contract; ``ce_type`` is its CloudEvents type."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ce_type: ClassVar[str]
    schema_version: int = 1


PLATFORM_ADMIN = "platform-admin"


class Requester(BaseModel):
    """The person a request is for, as the gateway's token says."""

    model_config = ConfigDict(frozen=True)
    id: str
    email: str | None = None
    name: str | None = None
    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    manager: str | None = Field(
        None, description="User id of the person's manager (the token's manager claim)"
    )

    @property
    def is_admin(self) -> bool:
        return PLATFORM_ADMIN in self.roles


# --- pao.requests.commands -------------------------------------------------------------


class EmergencyOverride(BaseModel):
    """Run the change now although a change calendar window holds, escalates or denies it;
    only a requester with the calendar's emergency role may, and the reason is recorded."""

    model_config = ConfigDict(frozen=True)
    reason: str = Field(min_length=1, max_length=4000)


class SubmitRequest(Message):
    ce_type: ClassVar[str] = "pao.request.submit"
    request_id: str
    item_id: str
    item_version: str | None = Field(None, description="Pinned catalog version; latest if absent")
    inputs: dict[str, Any] = Field(default_factory=dict)
    requester: Requester
    idempotency_key: str | None = None
    resource_id: str | None = Field(
        None,
        description="For a day-2 operation: the resource it acts on (item and version are "
        "the resource's); absent for a provisioning request",
    )
    operation: str | None = Field(
        None, description="The id of the item's operation to run (with resource_id)"
    )
    emergency: EmergencyOverride | None = Field(
        None, description="An emergency override of the change calendar, with its reason"
    )


class CancelRequest(Message):
    ce_type: ClassVar[str] = "pao.request.cancel"
    request_id: str
    by: Requester
    reason: str | None = None


class ApproveRequest(Message):
    ce_type: ClassVar[str] = "pao.request.approve"
    request_id: str
    by: Requester
    comment: str | None = None


class RejectRequest(Message):
    ce_type: ClassVar[str] = "pao.request.reject"
    request_id: str
    by: Requester
    comment: str | None = None


class TicketResolved(Message):
    """A JIRA ticket of a manual fulfilment was resolved (webhook or polling)."""

    ce_type: ClassVar[str] = "pao.request.ticket-resolved"
    request_id: str
    ticket_key: str
    outcome: Literal["done", "wont_do"]
    resolution: str | None = None
    reason: str | None = None


class ChangeRequestDecided(Message):
    """The change request PAO opened for a request was approved or rejected in the ITSM
    tool (ServiceNow: its ``approval`` field), announced by its webhook or by polling."""

    ce_type: ClassVar[str] = "pao.request.change-request-decided"
    request_id: str
    sys_id: str = Field(description="The change request's sys_id")
    number: str | None = Field(None, description="CHG0010001")
    approval: Literal["approved", "rejected"]
    by: str | None = Field(None, description="Who decided, as the ITSM tool names them")
    comment: str | None = None


# --- pao.actions.<type> ------------------------------------------------------------------


class ExecuteAction(Message):
    ce_type: ClassVar[str] = "pao.action.execute"
    command_id: str
    request_id: str
    step_id: str
    action_type: str
    attempt: int = 1
    inputs: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = 300.0


class CompensateAction(Message):
    """Undo a completed step (its ``rollback:``), with that step's outputs at hand."""

    ce_type: ClassVar[str] = "pao.action.compensate"
    command_id: str
    request_id: str
    step_id: str
    action_type: str
    attempt: int = 1
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = 300.0


# --- pao.actions.results -----------------------------------------------------------------


class _ActionResult(Message):
    command_id: str
    request_id: str
    step_id: str
    attempt: int = 1
    executor: str | None = None
    action_type: str | None = Field(None, description="The action type the command named")
    compensation: bool = Field(False, description="True when answering a CompensateAction")


class ActionStarted(_ActionResult):
    """Informational: the action is still running a second after it started (or is about
    to report its first progress). An action answered within that second is never
    reported started; its step counts as running from its dispatch."""

    ce_type: ClassVar[str] = "pao.action.started"


class ActionProgress(_ActionResult):
    ce_type: ClassVar[str] = "pao.action.progress"
    message: str
    percent: float | None = None


class ActionSucceeded(_ActionResult):
    ce_type: ClassVar[str] = "pao.action.succeeded"
    outputs: dict[str, Any] = Field(default_factory=dict)


class ActionFailed(_ActionResult):
    ce_type: ClassVar[str] = "pao.action.failed"
    error: str
    retryable: bool = False
    outputs: dict[str, Any] = Field(default_factory=dict)
    error_type: str | None = Field(
        None,
        description="ActionError, InvalidActionInputs, ActionTimeout, SecretNotFound, "
        "CircuitOpen, UnknownActionType or the unexpected exception's class name",
    )
    details: dict[str, Any] = Field(
        default_factory=dict,
        description='Machine-readable specifics, e.g. {"fields": [{"field", "message"}]}',
    )


# --- pao.requests.events (public) ------------------------------------------------------


class RequestEvent(Message):
    """One entry of a request's public event log, relayed from the event store."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ce_type: ClassVar[str] = "pao.request.event"
    request_id: str
    event_type: str
    version: int
    status: str
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class CommandRefused(Message):
    """A command the orchestrator refused without acting on it: its credential did not
    verify (``unauthenticated``: missing, malformed, expired, wrong issuer or audience,
    untrusted service, not signed for this message) or it names another person than its
    credential (``forbidden``). Nothing of the request changed (a refused submission
    creates no request); the command itself is in ``pao.dlq`` with the same reason."""

    ce_type: ClassVar[str] = "pao.request.command-refused"
    request_id: str
    command_id: str = Field(description="The refused command's ce_id")
    command_type: str = Field(description="The refused command's ce_type")
    reason: Literal["unauthenticated", "forbidden"]
    detail: str = Field(description="What did not hold, e.g. 'token expired'")
    occurred_at: datetime


# --- pao.resources.events (public) -----------------------------------------------------

RESOURCE_ID_NAMESPACE = uuid.UUID("5b0e7c4a-2f7d-4f0e-9c1a-7d3b1f6a0c25")

ResourceStatus = Literal[
    "provisioning", "active", "updating", "decommissioning", "decommissioned", "failed"
]


@lru_cache(maxsize=4096)  # asked at each of a request's commits; a SHA-1 each time
def resource_id_for(provisioning_request_id: str) -> str:
    """The id of the resource a provisioning request makes: derived, so a replayed or
    redelivered request names the same resource."""
    return str(uuid.uuid5(RESOURCE_ID_NAMESPACE, provisioning_request_id))


class ResourceEvent(Message):
    """One entry of a resource's public history (key: the resource id). Outputs carry
    secret references (``${secret:...}``), never secret values."""

    ce_type: ClassVar[str] = "pao.resource.event"
    resource_id: str
    item_id: str
    item_version: str
    name: str
    owner_team: str | None = None
    requester_id: str | None = None
    status: ResourceStatus
    request_id: str = Field(description="The request that caused this event")
    operation: str | None = Field(None, description="The operation id; absent when provisioning")
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    version: int = Field(description="The resource stream's version after this event")
    occurred_at: datetime


class ResourceProvisioningStarted(ResourceEvent):
    ce_type: ClassVar[str] = "pao.resource.provisioning-started"


class ResourceProvisioned(ResourceEvent):
    ce_type: ClassVar[str] = "pao.resource.provisioned"


class ResourceProvisioningFailed(ResourceEvent):
    ce_type: ClassVar[str] = "pao.resource.provisioning-failed"


class ResourceOperationStarted(ResourceEvent):
    ce_type: ClassVar[str] = "pao.resource.operation-started"


class ResourceUpdated(ResourceEvent):
    ce_type: ClassVar[str] = "pao.resource.updated"


class ResourceOperationFailed(ResourceEvent):
    ce_type: ClassVar[str] = "pao.resource.operation-failed"


class ResourceDecommissioned(ResourceEvent):
    ce_type: ClassVar[str] = "pao.resource.decommissioned"


RESOURCE_EVENT_TYPES: tuple[type[ResourceEvent], ...] = (
    ResourceProvisioningStarted,
    ResourceProvisioned,
    ResourceProvisioningFailed,
    ResourceOperationStarted,
    ResourceUpdated,
    ResourceOperationFailed,
    ResourceDecommissioned,
)


# --- pao.catalog.events ------------------------------------------------------------------


class CatalogItemPublished(Message):
    ce_type: ClassVar[str] = "pao.catalog.item.published"
    item_id: str
    version: str
    content_hash: str


class CatalogItemRetired(Message):
    ce_type: ClassVar[str] = "pao.catalog.item.retired"
    item_id: str
    version: str


_CONTRACTS: tuple[type[Message], ...] = (
    SubmitRequest,
    CancelRequest,
    ApproveRequest,
    RejectRequest,
    TicketResolved,
    ChangeRequestDecided,
    ExecuteAction,
    CompensateAction,
    ActionStarted,
    ActionProgress,
    ActionSucceeded,
    ActionFailed,
    RequestEvent,
    CommandRefused,
    *RESOURCE_EVENT_TYPES,
    CatalogItemPublished,
    CatalogItemRetired,
)
MESSAGE_TYPES: dict[str, type[Message]] = {m.ce_type: m for m in _CONTRACTS}


def parse_message(event: CloudEvent, accepted: tuple[type[Message], ...] | None = None) -> Message:
    """The contract carried by ``event``; ``InvalidMessage`` names the type or field at fault."""
    model = MESSAGE_TYPES.get(event.type)
    if model is None or (accepted is not None and model not in accepted):
        allowed = sorted(m.ce_type for m in accepted) if accepted else sorted(MESSAGE_TYPES)
        raise InvalidMessage(f"unknown ce_type {event.type!r}; expected one of {allowed}")
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<body>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidMessage(f"invalid {event.type} body: {problems}") from exc


def to_cloudevent(
    message: Message, *, source: str, subject: str | None = None, id: str | None = None
) -> CloudEvent:
    extra = {"id": id} if id else {}
    return CloudEvent(
        type=message.ce_type,
        source=source,
        subject=subject,
        data=message.model_dump(mode="json"),
        **extra,
    )

"""The events of a resource's stream, and the request event that links a request to one.

A resource is a stream of its own (stream id: the resource id, table ``resource_events``),
written in the same transaction as the request events that caused it. Its events are
derived from the request's (``resources.follow``): provisioning opens it, completing
makes it active, an operation request claims it and then settles it. Events carry the
resulting inputs and outputs (never a diff), so the fold needs no catalog; outputs hold
secret references (``${secret:...}``), never values. Versioning as for request events
(``schema_version``, upcasters in ``codec``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from pao_orchestrator.domain.events import DomainEvent

OperationStatus = Literal["updating", "decommissioning"]


# --- in the request's stream ---------------------------------------------------------------


class OperationRequested(DomainEvent):
    """The request just submitted runs day-2 operation ``operation`` on ``resource_id``.

    Recorded right after ``RequestSubmitted`` of an operation request, refused or not,
    so the request's state names its resource for every later message.
    """

    event_type: ClassVar[str] = "OperationRequested"
    resource_id: str
    operation: str


# --- in the resource's stream --------------------------------------------------------------


class ResourceEventBase(DomainEvent):
    """Every resource event names the request that caused it."""

    request_id: str


class ResourceProvisioningStarted(ResourceEventBase):
    """A provisioning request started fulfilment: the resource exists, being made."""

    event_type: ClassVar[str] = "ResourceProvisioningStarted"
    resource_id: str
    item_id: str
    item_version: str
    name: str
    owner_team: str | None = None
    requester_id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    submitted_at: datetime | None = None


class ResourceProvisioned(ResourceEventBase):
    event_type: ClassVar[str] = "ResourceProvisioned"
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    request_status: str = "completed"


class ResourceProvisioningFailed(ResourceEventBase):
    event_type: ClassVar[str] = "ResourceProvisioningFailed"
    error: str
    request_status: str


class ResourceOperationStarted(ResourceEventBase):
    """An operation request was accepted: the resource is claimed until it ends."""

    event_type: ClassVar[str] = "ResourceOperationStarted"
    operation: str
    status: OperationStatus
    submitted_at: datetime | None = None


class ResourceUpdated(ResourceEventBase):
    """An operation other than decommission completed; inputs/outputs are the merged ones."""

    event_type: ClassVar[str] = "ResourceUpdated"
    operation: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)


class ResourceOperationFailed(ResourceEventBase):
    """The operation's request ended without completing: the resource is active again."""

    event_type: ClassVar[str] = "ResourceOperationFailed"
    operation: str
    error: str
    request_status: str


class ResourceDecommissioned(ResourceEventBase):
    event_type: ClassVar[str] = "ResourceDecommissioned"
    operation: str
    outputs: dict[str, Any] = Field(default_factory=dict)


RESOURCE_EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.event_type: cls
    for cls in (
        ResourceProvisioningStarted,
        ResourceProvisioned,
        ResourceProvisioningFailed,
        ResourceOperationStarted,
        ResourceUpdated,
        ResourceOperationFailed,
        ResourceDecommissioned,
    )
}

# Request-stream events defined here (registered with the request events by ``codec``).
REQUEST_LINK_TYPES: dict[str, type[DomainEvent]] = {
    OperationRequested.event_type: OperationRequested
}

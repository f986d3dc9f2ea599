"""The state of one resource: a frozen value, the fold of its stream (``evolve_resource``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pao_common.messages import ResourceStatus
from pydantic import BaseModel, ConfigDict, Field

from pao_orchestrator.domain import resource_events as rev
from pao_orchestrator.domain.events import DomainEvent


class ResourceRequest(BaseModel):
    """One request that touched the resource (its provisioning or an operation)."""

    model_config = ConfigDict(frozen=True)
    request_id: str
    operation: str | None = None  # None: the provisioning request
    status: str = "in_progress"  # the request's status as the resource last saw it
    submitted_at: datetime | None = None
    ended_at: datetime | None = None


class ResourceState(BaseModel):
    model_config = ConfigDict(frozen=True)
    resource_id: str = ""
    version: int = 0
    status: ResourceStatus | None = None  # None: the stream is empty (no such resource)
    item_id: str = ""
    item_version: str = ""
    name: str = ""
    owner_team: str | None = None
    requester_id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    requests: tuple[ResourceRequest, ...] = ()
    active_request_id: str | None = None
    active_operation: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    decommissioned_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.version > 0


def reduce_resource(
    events: Iterable[DomainEvent], state: ResourceState | None = None
) -> ResourceState:
    current = state or ResourceState()
    for event in events:
        current = evolve_resource(current, event)
    return current


def evolve_resource(state: ResourceState, event: DomainEvent) -> ResourceState:
    changes = _apply(state, event)
    changes["version"] = state.version + 1
    changes["updated_at"] = event.occurred_at
    return state.model_copy(update=changes)


def _settle(state: ResourceState, request_id: str, status: str, at: datetime) -> tuple[Any, ...]:
    return tuple(
        r.model_copy(update={"status": status, "ended_at": at}) if r.request_id == request_id else r
        for r in state.requests
    )


def _apply(state: ResourceState, event: DomainEvent) -> dict[str, Any]:
    at = event.occurred_at
    idle = {"active_request_id": None, "active_operation": None}
    match event:
        case rev.ResourceProvisioningStarted():
            return {
                "resource_id": event.resource_id,
                "status": "provisioning",
                "item_id": event.item_id,
                "item_version": event.item_version,
                "name": event.name,
                "owner_team": event.owner_team,
                "requester_id": event.requester_id,
                "inputs": event.inputs,
                "requests": (
                    ResourceRequest(request_id=event.request_id, submitted_at=event.submitted_at),
                ),
                "active_request_id": event.request_id,
                "created_at": at,
            }
        case rev.ResourceProvisioned():
            return {
                "status": "active",
                "inputs": event.inputs,
                "outputs": event.outputs,
                "requests": _settle(state, event.request_id, event.request_status, at),
                "error": None,
                **idle,
            }
        case rev.ResourceProvisioningFailed():
            return {
                "status": "failed",
                "error": event.error,
                "requests": _settle(state, event.request_id, event.request_status, at),
                **idle,
            }
        case rev.ResourceOperationStarted():
            started = ResourceRequest(
                request_id=event.request_id,
                operation=event.operation,
                submitted_at=event.submitted_at,
            )
            return {
                "status": event.status,
                "requests": (*state.requests, started),
                "active_request_id": event.request_id,
                "active_operation": event.operation,
            }
        case rev.ResourceUpdated():
            return {
                "status": "active",
                "inputs": event.inputs,
                "outputs": event.outputs,
                "requests": _settle(state, event.request_id, "completed", at),
                "error": None,
                **idle,
            }
        case rev.ResourceOperationFailed():
            # Whatever the operation was (a decommission too), the resource is still there.
            return {
                "status": "active",
                "error": event.error,
                "requests": _settle(state, event.request_id, event.request_status, at),
                **idle,
            }
        case rev.ResourceDecommissioned():
            return {
                "status": "decommissioned",
                "outputs": event.outputs,
                "requests": _settle(state, event.request_id, "completed", at),
                "error": None,
                "decommissioned_at": at,
                **idle,
            }
    raise TypeError(f"evolve_resource has no case for {type(event).__name__}")

"""The state of one resource: a frozen value, the fold of its stream (``evolve_resource``,
one handler per event type registered with ``evolves_resource``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pao_common.messages import ResourceStatus
from pydantic import BaseModel, ConfigDict, Field

from pao_orchestrator.domain import resource_events as rev
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.evolvers import Changes, Evolvers


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


evolves_resource: Evolvers[ResourceState] = Evolvers("evolve_resource")


def evolve_resource(state: ResourceState, event: DomainEvent) -> ResourceState:
    changes = evolves_resource.changes(state, event)
    changes["version"] = state.version + 1
    changes["updated_at"] = event.occurred_at
    return state.model_copy(update=changes)


def _settle(state: ResourceState, request_id: str, status: str, at: datetime) -> tuple[Any, ...]:
    return tuple(
        r.model_copy(update={"status": status, "ended_at": at}) if r.request_id == request_id else r
        for r in state.requests
    )


# What the events that settle the request holding the resource set: no one holds it.
_IDLE: Changes = {"active_request_id": None, "active_operation": None}


@evolves_resource(rev.ResourceProvisioningStarted)
def _provisioning_started(state: ResourceState, event: rev.ResourceProvisioningStarted) -> Changes:
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
        "created_at": event.occurred_at,
    }


@evolves_resource(rev.ResourceProvisioned)
def _provisioned(state: ResourceState, event: rev.ResourceProvisioned) -> Changes:
    return {
        "status": "active",
        "inputs": event.inputs,
        "outputs": event.outputs,
        "requests": _settle(state, event.request_id, event.request_status, event.occurred_at),
        "error": None,
        **_IDLE,
    }


@evolves_resource(rev.ResourceProvisioningFailed)
def _provisioning_failed(state: ResourceState, event: rev.ResourceProvisioningFailed) -> Changes:
    return {
        "status": "failed",
        "error": event.error,
        "requests": _settle(state, event.request_id, event.request_status, event.occurred_at),
        **_IDLE,
    }


@evolves_resource(rev.ResourceOperationStarted)
def _operation_started(state: ResourceState, event: rev.ResourceOperationStarted) -> Changes:
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


@evolves_resource(rev.ResourceUpdated)
def _updated(state: ResourceState, event: rev.ResourceUpdated) -> Changes:
    return {
        "status": "active",
        "inputs": event.inputs,
        "outputs": event.outputs,
        "requests": _settle(state, event.request_id, "completed", event.occurred_at),
        "error": None,
        **_IDLE,
    }


@evolves_resource(rev.ResourceOperationFailed)
def _operation_failed(state: ResourceState, event: rev.ResourceOperationFailed) -> Changes:
    # Whatever the operation was (a decommission too), the resource is still there.
    return {
        "status": "active",
        "error": event.error,
        "requests": _settle(state, event.request_id, event.request_status, event.occurred_at),
        **_IDLE,
    }


@evolves_resource(rev.ResourceDecommissioned)
def _decommissioned(state: ResourceState, event: rev.ResourceDecommissioned) -> Changes:
    return {
        "status": "decommissioned",
        "outputs": event.outputs,
        "requests": _settle(state, event.request_id, "completed", event.occurred_at),
        "error": None,
        "decommissioned_at": event.occurred_at,
        **_IDLE,
    }

"""Events to and from their stored form, reading old schema versions through upcasters.

An upcaster turns the data of ``(event_type, version)`` into the data of version + 1;
``decode`` applies them in a chain until the event class's current version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from pao_orchestrator.domain.events import EVENT_TYPES, DomainEvent
from pao_orchestrator.domain.resource_events import REQUEST_LINK_TYPES, RESOURCE_EVENT_TYPES
from pao_orchestrator.errors import UnknownEventType

Data = dict[str, Any]


def _submitted_v1_to_v2(data: Data) -> Data:
    # v1 flattened the requester into requester_id / requester_email / requester_teams.
    out = {
        k: v
        for k, v in data.items()
        if k not in {"requester_id", "requester_email", "requester_teams"}
    }
    out["requester"] = {
        "id": data["requester_id"],
        "email": data.get("requester_email"),
        "teams": list(data.get("requester_teams") or ()),
    }
    return out


def _submitted_v2_to_v3(data: Data) -> Data:
    # v3 added the change class (before classes existed every request was standard) and
    # the emergency override's reason.
    return {"change_class": "standard", "emergency_reason": None, **data}


REQUEST_STREAM_TYPES: dict[str, type[DomainEvent]] = {**EVENT_TYPES, **REQUEST_LINK_TYPES}

UPCASTERS: dict[tuple[str, int], Callable[[Data], Data]] = {
    ("RequestSubmitted", 1): _submitted_v1_to_v2,
    ("RequestSubmitted", 2): _submitted_v2_to_v3,
}


def encode(event: DomainEvent) -> tuple[str, int, Data]:
    """``(event_type, schema_version, data)`` as stored."""
    return event.event_type, event.schema_version, event.model_dump(mode="json")


def decode(
    event_type: str,
    schema_version: int,
    data: Data,
    types: dict[str, type[DomainEvent]] = REQUEST_STREAM_TYPES,
) -> DomainEvent:
    """The current event model for a stored event of any supported schema version
    (``types``: the request stream's events, or ``RESOURCE_EVENT_TYPES``)."""
    cls = types.get(event_type)
    if cls is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    version = schema_version
    while version < cls.schema_version:
        upcast = UPCASTERS.get((event_type, version))
        if upcast is None:
            raise UnknownEventType(f"no upcaster for {event_type} v{version}")
        data = upcast(data)
        version += 1
    if version != cls.schema_version:
        raise UnknownEventType(
            f"{event_type} v{schema_version} is newer than this code (v{cls.schema_version})"
        )
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise UnknownEventType(f"{event_type} v{schema_version} does not read: {exc}") from exc


def decode_resource(event_type: str, schema_version: int, data: Data) -> DomainEvent:
    """``decode`` for the events of a resource's stream."""
    return decode(event_type, schema_version, data, RESOURCE_EVENT_TYPES)

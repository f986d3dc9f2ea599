"""Each fold has exactly one handler for every event type of its stream."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain.codec import REQUEST_STREAM_TYPES
from pao_orchestrator.domain.evolve import evolve
from pao_orchestrator.domain.evolvers import Changes, Evolvers, evolves
from pao_orchestrator.domain.resource_events import RESOURCE_EVENT_TYPES, ResourceUpdated
from pao_orchestrator.domain.resource_state import ResourceState, evolve_resource, evolves_resource
from pao_orchestrator.domain.state import RequestState

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_every_request_stream_event_has_a_handler_and_nothing_else_has() -> None:
    assert evolves.event_types == set(REQUEST_STREAM_TYPES.values())


def test_every_resource_stream_event_has_a_handler_and_nothing_else_has() -> None:
    assert evolves_resource.event_types == set(RESOURCE_EVENT_TYPES.values())


def test_a_second_handler_for_an_event_type_is_refused() -> None:
    folds: Evolvers[RequestState] = Evolvers("a fold")

    @folds(ev.RequestCompleted)
    def completed(state: RequestState, event: ev.RequestCompleted) -> Changes:
        return {"status": "completed"}

    with pytest.raises(TypeError, match="a fold has two handlers for RequestCompleted"):

        @folds(ev.RequestCompleted)
        def completed_again(state: RequestState, event: ev.RequestCompleted) -> Changes:
            return {}

    assert folds.changes(RequestState(), ev.RequestCompleted(occurred_at=AT)) == {
        "status": "completed"
    }


def test_an_event_of_another_stream_is_refused() -> None:
    resource_event = ResourceUpdated(occurred_at=AT, request_id="r-1", operation="resize")
    with pytest.raises(TypeError, match="evolve has no case for ResourceUpdated"):
        evolve(RequestState(), resource_event)
    with pytest.raises(TypeError, match="evolve_resource has no case for RequestCompleted"):
        evolve_resource(ResourceState(), ev.RequestCompleted(occurred_at=AT))

"""The folds give the states recorded before they became one handler per event type.

``evolve_cases.json`` (written by ``record_evolve_cases`` on the fold as it was) holds
states and events taken from the golden histories and the domain tests, and for every
state crossed with every event of its stream a digest of the state the fold made of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pao_orchestrator.domain.codec import decode, decode_resource
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.evolve import evolve
from pao_orchestrator.domain.resource_state import ResourceState, evolve_resource
from pao_orchestrator.domain.state import RequestState
from pydantic import BaseModel

from tests.orchestrator.record_evolve_cases import outcome

CASES = json.loads((Path(__file__).parent / "evolve_cases.json").read_text())

STREAMS: dict[str, tuple[type[BaseModel], Callable[..., DomainEvent], Callable[..., Any]]] = {
    "requests": (RequestState, decode, evolve),
    "resources": (ResourceState, decode_resource, evolve_resource),
}


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_the_fold_gives_the_recorded_states(stream: str) -> None:
    model, read, fold = STREAMS[stream]
    recorded = CASES[stream]
    events = [read(e["event_type"], e["schema_version"], e["data"]) for e in recorded["events"]]
    types = {type(e) for e in events}
    assert len(recorded["states"]) > 50, "too few recorded states"
    assert len(types) == len({e["event_type"] for e in recorded["events"]})
    differ = []
    for i, (stored, row) in enumerate(zip(recorded["states"], recorded["results"], strict=True)):
        state = model.model_validate(stored)
        for event, expected in zip(events, row.split(" "), strict=True):
            if outcome(fold, state, event) != expected:
                differ.append(f"state {i} + {event.event_type}")
    assert not differ, f"{len(differ)} cases differ, first: {differ[:10]}"

"""Golden replays: recorded request histories must replay to the recorded states.

A change to an event that old logs can no longer be read into (a renamed or removed
field, a new required field without a schema-version bump and an upcaster) fails here.
To add a history: record it with ``tests.orchestrator.items.Run`` and store the encoded
events with the expected state; never edit an existing file to make a change pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pao_orchestrator.domain.codec import decode, decode_resource
from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.domain.resource_state import ResourceState, reduce_resource
from pao_orchestrator.domain.state import RequestState
from pao_orchestrator.errors import UnknownEventType

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))


def test_there_are_golden_histories() -> None:
    assert len(GOLDEN) >= 5


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_history_replays_to_the_expected_state(path: Path) -> None:
    doc = json.loads(path.read_text())
    events = [decode(e["event_type"], e["schema_version"], e["data"]) for e in doc["events"]]
    state = reduce(events)
    # The recorded state read with today's model: a field added since (with a default)
    # takes its default on both sides; a renamed or dropped one does not match.
    recorded = doc["expected_state"]
    expected = RequestState.model_validate(recorded)
    assert state == expected
    assert state.model_dump(mode="json") == expected.model_dump(mode="json")
    assert set(recorded) <= set(state.model_dump(mode="json")), "a recorded field is gone"


def test_an_incompatible_event_fails_replay() -> None:
    doc = json.loads((Path(__file__).parent / "golden" / "automated_completed.json").read_text())
    broken = dict(doc["events"][3])
    broken["data"] = {k: v for k, v in broken["data"].items() if k != "step_id"}
    with pytest.raises(UnknownEventType, match="StepSucceeded"):
        decode(broken["event_type"], broken["schema_version"], broken["data"])
    with pytest.raises(UnknownEventType, match="newer than this code"):
        decode("RequestCompleted", 99, {})


RESOURCE_GOLDEN = sorted((Path(__file__).parent / "golden_resources").glob("*.json"))


@pytest.mark.parametrize("path", RESOURCE_GOLDEN, ids=[p.stem for p in RESOURCE_GOLDEN])
def test_resource_history_replays_to_the_expected_state(path: Path) -> None:
    doc = json.loads(path.read_text())
    events = [
        decode_resource(e["event_type"], e["schema_version"], e["data"]) for e in doc["events"]
    ]
    state = reduce_resource(events)
    recorded = doc["expected_state"]
    expected = ResourceState.model_validate(recorded)
    assert state == expected
    assert state.model_dump(mode="json") == expected.model_dump(mode="json")
    assert set(recorded) <= set(state.model_dump(mode="json")), "a recorded field is gone"


def test_resource_events_are_not_request_events() -> None:
    assert RESOURCE_GOLDEN, "no recorded resource history"
    first = json.loads(RESOURCE_GOLDEN[0].read_text())["events"][0]
    with pytest.raises(UnknownEventType, match="unknown event type"):
        decode(first["event_type"], first["schema_version"], first["data"])
    broken = {k: v for k, v in first["data"].items() if k != "resource_id"}
    with pytest.raises(UnknownEventType, match="ResourceProvisioningStarted"):
        decode_resource(first["event_type"], first["schema_version"], broken)

"""Record what ``evolve`` and ``evolve_resource`` make of many (state, event) pairs.

Run once, on the fold as it was before a refactoring, to write ``evolve_cases.json``;
``test_evolve_cases`` then asserts the fold of today gives the same states. Never rerun it
to make a change pass: a change of what an event does is a new golden history instead.

    python -m tests.orchestrator.record_evolve_cases

The states and events come from the golden histories (every prefix of each history is a
state, every event of every history an event) and from the pure domain tests, run here
with the fold watched (every (state, event) pair they fold). Cases are every state crossed
with every event of its stream, each recorded as a digest of the resulting state. States
and events are stored in their JSON form (events as the codec encodes them), and each
result is computed from the stored form read back, as the test reads it. (The property
test's draws vary from run to run, so a second recording would hold other cases.)
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pao_orchestrator.domain import evolve as request_fold
from pao_orchestrator.domain import resource_state as resource_fold
from pao_orchestrator.domain.codec import decode, decode_resource, encode
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.evolvers import Changes, Evolvers, evolves
from pao_orchestrator.domain.resource_state import ResourceState, evolves_resource
from pao_orchestrator.domain.state import RequestState
from pydantic import BaseModel

HERE = Path(__file__).parent
CASES = HERE / "evolve_cases.json"

# The tests whose folds are recorded: the pure domain's (no broker, no database needed by
# the pairs they fold; the database-backed ones among them run too and add their pairs).
WATCHED_TESTS = [
    "tests/orchestrator/test_domain.py",
    "tests/orchestrator/test_resources.py",
    "tests/orchestrator/test_handler.py",
    "tests/orchestrator/test_lifecycle_properties.py",
    "tests/change/test_change_calendar.py",
    "tests/change/test_change_classes.py",
    "tests/change/test_change_requests_domain.py",
    "tests/change/test_staged_approvals.py",
]


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def digest(state: BaseModel) -> str:
    """What a resulting state is recorded as (its JSON form, hashed)."""
    return hashlib.sha256(canonical(state.model_dump(mode="json")).encode()).hexdigest()[:8]


def outcome(fold: Callable[[Any, DomainEvent], BaseModel], state: Any, event: Any) -> str:
    try:
        return digest(fold(state, event))
    except Exception as exc:  # the fold's refusal is recorded like a result
        return f"raises:{type(exc).__name__}"


def encoded(event: DomainEvent) -> dict[str, Any]:
    event_type, schema_version, data = encode(event)
    return {"event_type": event_type, "schema_version": schema_version, "data": data}


class Stream:
    """The distinct states and events seen in one stream, in their stored forms.

    ``shape_of_state``/``shape_of_event`` say which of them are alike: the golden ones are
    all kept, of the watched ones one per shape (what the fold's cases turn on: statuses,
    phases, which parts are set), so the cases stay a few hundred states and events.
    """

    def __init__(
        self,
        shape_of_state: Callable[[dict[str, Any]], Any],
        shape_of_event: Callable[[dict[str, Any]], Any],
    ) -> None:
        self.shape_of_state = shape_of_state
        self.shape_of_event = shape_of_event
        self.golden_states: dict[str, dict[str, Any]] = {}
        self.golden_events: dict[str, dict[str, Any]] = {}
        self.seen_states: dict[str, dict[str, Any]] = {}
        self.seen_events: dict[str, dict[str, Any]] = {}
        self.watching = False

    def add_state(self, state: BaseModel) -> None:
        dumped = state.model_dump(mode="json")
        into = self.seen_states if self.watching else self.golden_states
        into.setdefault(canonical(dumped), dumped)

    def add_event(self, event: DomainEvent) -> None:
        stored = encoded(event)
        into = self.seen_events if self.watching else self.golden_events
        into.setdefault(canonical(stored), stored)

    def states(self) -> list[dict[str, Any]]:
        return _select(self.golden_states, self.seen_states, self.shape_of_state)

    def events(self) -> list[dict[str, Any]]:
        return _select(self.golden_events, self.seen_events, self.shape_of_event)


def _select(
    golden: dict[str, dict[str, Any]],
    seen: dict[str, dict[str, Any]],
    shape: Callable[[dict[str, Any]], Any],
) -> list[dict[str, Any]]:
    chosen = dict(golden)
    shapes = {repr(shape(v)) for v in golden.values()}
    for key in sorted(seen, key=lambda k: hashlib.sha256(k.encode()).hexdigest()):
        if key not in chosen and repr(shape(seen[key])) not in shapes:
            shapes.add(repr(shape(seen[key])))
            chosen[key] = seen[key]
    return list(chosen.values())


def request_state_shape(state: dict[str, Any]) -> Any:
    approval = state.get("approval") or {}
    freeze = state.get("freeze") or {}
    change = state.get("change_request") or {}
    steps = tuple(
        (s["status"], s["phase"], bool(s["command_id"]), bool(s["error"]), bool(s["outputs"]))
        for s in state["steps"]
    )
    return (
        state["status"],
        steps,
        (approval.get("stage"), approval.get("decision"), bool(approval.get("refused"))),
        (freeze.get("action"), bool(freeze.get("released_at"))),
        (change.get("phase"), change.get("approval")),
        (state["cancelling"], state["rollback_failed"], bool(state["ticket"])),
        (bool(state["error"]), bool(state["resource_id"]), state["mode"], state["change_class"]),
    )


def resource_state_shape(state: dict[str, Any]) -> Any:
    return (
        state["status"],
        tuple(r["status"] for r in state["requests"]),
        state["active_operation"],
        bool(state["error"]),
        bool(state["outputs"]),
    )


# Event fields whose value (not only whether it is set) the fold turns on.
_DECIDING_FIELDS = {
    "phase", "final", "mode", "action", "decision", "status", "operation", "approval",
    "found", "state", "request_status", "hold",
}  # fmt: skip


def event_shape(event: dict[str, Any]) -> Any:
    data = event["data"]
    return (
        event["event_type"],
        tuple(sorted(k for k, v in data.items() if v)),
        tuple(sorted((k, repr(v)) for k, v in data.items() if k in _DECIDING_FIELDS)),
    )


class FoldWatcher:
    """A pytest plugin: every pair the watched tests fold goes into the streams."""

    def __init__(self, requests: Stream, resources: Stream) -> None:
        self.requests = requests
        self.resources = resources

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        self.requests.watching = self.resources.watching = True
        with (
            _watched(evolves, self.requests),
            _watched(evolves_resource, self.resources),
        ):
            return (yield)


@contextmanager
def _watched(evolvers: Evolvers[Any], stream: Stream) -> Iterator[None]:
    """Every pair ``evolvers`` folds meanwhile goes into ``stream``."""
    changes = evolvers.changes

    def watched(state: Any, event: DomainEvent) -> Changes:
        stream.add_state(state)
        stream.add_event(event)
        return changes(state, event)

    evolvers.changes = watched  # type: ignore[method-assign]
    try:
        yield
    finally:
        del evolvers.changes


def from_golden(
    folder: Path,
    stream: Stream,
    read: Callable[..., DomainEvent],
    fold: Callable[[Any, DomainEvent], BaseModel],
    empty: BaseModel,
) -> None:
    for path in sorted(folder.glob("*.json")):
        state = empty
        stream.add_state(state)
        for stored in json.loads(path.read_text())["events"]:
            event = read(stored["event_type"], stored["schema_version"], stored["data"])
            stream.add_event(event)
            state = fold(state, event)
            stream.add_state(state)


def cases(
    stream: Stream,
    model: type[BaseModel],
    read: Callable[..., DomainEvent],
    fold: Callable[[Any, DomainEvent], BaseModel],
) -> dict[str, Any]:
    states, events = stream.states(), stream.events()
    read_states = [model.model_validate(s) for s in states]
    read_events = [read(e["event_type"], e["schema_version"], e["data"]) for e in events]
    results = [" ".join(outcome(fold, s, e) for e in read_events) for s in read_states]
    print(f"{model.__name__}: {len(states)} states x {len(events)} events")
    return {"states": states, "events": events, "results": results}


def main() -> int:
    requests = Stream(request_state_shape, event_shape)
    resources = Stream(resource_state_shape, event_shape)
    from_golden(HERE / "golden", requests, decode, request_fold.evolve, RequestState())
    from_golden(
        HERE / "golden_resources",
        resources,
        decode_resource,
        resource_fold.evolve_resource,
        ResourceState(),
    )
    plugin = FoldWatcher(requests, resources)
    code = pytest.main(["-q", "-p", "no:cacheprovider", *WATCHED_TESTS], [plugin])
    if code != 0:
        return int(code)
    recorded = {
        "requests": cases(requests, RequestState, decode, request_fold.evolve),
        "resources": cases(
            resources, ResourceState, decode_resource, resource_fold.evolve_resource
        ),
    }
    # One state (and its row of results) a line, so the file can be read and diffed.
    lines = ["{"]
    for i, (stream, recorded_cases) in enumerate(recorded.items()):
        lines.append(f"{json.dumps(stream)}: {{")
        for j, part in enumerate(("states", "events", "results")):
            rows = [canonical(row) for row in recorded_cases[part]]
            end = "," if j < 2 else ""
            lines.append(f"{json.dumps(part)}: [\n" + ",\n".join(rows) + f"\n]{end}")
        lines.append("}," if i == 0 else "}")
    lines.append("}")
    CASES.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A fold as one handler per event type: ``Evolvers`` maps each event class to the
function saying how that event changes a state.

A handler is registered with the registry used as a decorator and returns the changed
fields only (``version`` and ``updated_at`` are the fold's)::

    @evolves(ev.RequestCompleted)
    def _completed(state: RequestState, event: ev.RequestCompleted) -> Changes:
        return {"status": "completed", ...}

A second handler for one event type is refused when it is registered; an event without
one is refused when it is folded. ``evolves`` is the request stream's registry (its
handlers live in ``evolve`` and the ``*_evolve`` modules it imports);
``resource_state.evolves_resource`` is the resource stream's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.state import RequestState

Changes = dict[str, Any]
S = TypeVar("S", bound=BaseModel)
E = TypeVar("E", bound=DomainEvent)


class Evolvers(Generic[S]):
    """The handlers of one stream's fold (``fold`` names it in errors)."""

    def __init__(self, fold: str) -> None:
        self.fold = fold
        self._handlers: dict[type[DomainEvent], Callable[[S, Any], Changes]] = {}

    def __call__(
        self, event_type: type[E]
    ) -> Callable[[Callable[[S, E], Changes]], Callable[[S, E], Changes]]:
        """Register the decorated function as the handler of ``event_type``."""

        def register(handler: Callable[[S, E], Changes]) -> Callable[[S, E], Changes]:
            if event_type in self._handlers:
                earlier = self._handlers[event_type]
                raise TypeError(
                    f"{self.fold} has two handlers for {event_type.__name__}:"
                    f" {earlier.__qualname__} and {handler.__qualname__}"
                )
            self._handlers[event_type] = handler
            return handler

        return register

    @property
    def event_types(self) -> frozenset[type[DomainEvent]]:
        """The event classes that have a handler."""
        return frozenset(self._handlers)

    def changes(self, state: S, event: DomainEvent) -> Changes:
        """What ``event`` changes in ``state`` (the fields to replace)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"{self.fold} has no case for {type(event).__name__}")
        return handler(state, event)


evolves: Evolvers[RequestState] = Evolvers("evolve")

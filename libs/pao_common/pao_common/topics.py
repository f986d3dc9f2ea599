"""Topic names of the architecture.

One request's messages share a key (the request id), so they stay ordered on one
partition. ``Topics`` applies an optional suffix so tests (and tenants sharing a
cluster) get their own set of topics.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUEST_COMMANDS = "pao.requests.commands"
REQUEST_EVENTS = "pao.requests.events"
RESOURCE_EVENTS = "pao.resources.events"
ACTION_RESULTS = "pao.actions.results"
CATALOG_EVENTS = "pao.catalog.events"
DLQ = "pao.dlq"
ACTION_PREFIX = "pao.actions."


def action_family(action_type: str) -> str:
    """``debug.log`` and ``debug.wait`` are served by the ``debug`` executor."""
    return action_type.split(".", 1)[0]


@dataclass(frozen=True)
class Topics:
    suffix: str = ""

    def _name(self, base: str) -> str:
        return f"{base}{self.suffix}"

    @property
    def request_commands(self) -> str:
        return self._name(REQUEST_COMMANDS)

    @property
    def request_events(self) -> str:
        return self._name(REQUEST_EVENTS)

    @property
    def resource_events(self) -> str:
        return self._name(RESOURCE_EVENTS)

    @property
    def action_results(self) -> str:
        return self._name(ACTION_RESULTS)

    @property
    def catalog_events(self) -> str:
        return self._name(CATALOG_EVENTS)

    @property
    def dlq(self) -> str:
        return self._name(DLQ)

    def actions(self, action_type: str) -> str:
        """Topic of the executor serving ``action_type`` (``pao.actions.<family>``)."""
        return self._name(ACTION_PREFIX + action_family(action_type))

    def core(self) -> list[str]:
        """The topics every deployment has, created by ``pao dev`` and at service start."""
        return [
            self.request_commands,
            self.request_events,
            self.resource_events,
            self.action_results,
            self.catalog_events,
            self.dlq,
        ]

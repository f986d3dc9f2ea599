"""The action registry of one executor: action types, their input models and handlers.

Modelled on Backstage's ``TemplateActionRegistry``: an action type is a name, it
declares a pydantic model its inputs must satisfy, and declaring one twice, outside
the executor's family, or asking for one nobody declared fails loudly.

How a ``CompensateAction`` naming type ``T`` is routed (first match wins):

1. the compensation handler declared with ``@executor.compensate("T")``;
2. the action declared as ``T``'s ``compensated_by=`` (a compensating action type);
3. ``T``'s own handler: the catalog's ``rollback.action`` named a plain action whose
   execution is the undo (``rest.request`` with ``method: DELETE``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from pao_common.errors import ActionRegistryError, DuplicateActionType, UnknownActionType

if TYPE_CHECKING:
    from pao_common.executor.context import ActionContext
    from pao_common.service import ServiceRuntime

FAMILY = re.compile(r"[a-z][a-z0-9-]{0,62}")
ACTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

Outputs = Mapping[str, Any] | BaseModel | None
Handler = Callable[[Any, "ActionContext"], Awaitable[Outputs]]
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])
Hook = Callable[["ServiceRuntime"], Awaitable[None]]


@dataclass(frozen=True)
class ActionDefinition:
    """One declared action type."""

    action_type: str
    inputs: type[BaseModel]
    handler: Handler
    description: str = ""
    compensated_by: str | None = None


@dataclass(frozen=True)
class CompensationDefinition:
    """The undo of an action type, run for a ``CompensateAction`` naming it."""

    action_type: str
    inputs: type[BaseModel]
    handler: Handler
    description: str = ""


@dataclass(frozen=True)
class Route:
    """What a command runs: the handler, the model its inputs must satisfy, and why."""

    action_type: str
    inputs: type[BaseModel]
    handler: Handler
    compensation: bool
    via: str


class Executor:
    """The action types of one family (``debug`` serves ``debug.log``, ``debug.wait``...).

    ``max_concurrency`` bounds the actions running at once (further commands wait in
    the topic); ``lease_grace_s`` is added to a command's ``timeout_s`` before another
    instance may take over a command whose executor died while running it;
    ``drain_timeout_s`` is how long a stopping executor lets running actions finish
    before cancelling them (they are answered with a retryable failure).
    """

    def __init__(
        self,
        family: str,
        *,
        description: str = "",
        max_concurrency: int = 64,
        lease_grace_s: float = 30.0,
        drain_timeout_s: float = 10.0,
        circuit_failure_threshold: int = 5,
        circuit_reset_timeout_s: float = 30.0,
    ) -> None:
        if not FAMILY.fullmatch(family):
            raise ActionRegistryError(
                f"executor family {family!r} must match {FAMILY.pattern} (e.g. 'debug')"
            )
        if max_concurrency < 1:
            raise ActionRegistryError("max_concurrency must be at least 1")
        self.family = family
        self.description = description
        self.max_concurrency = max_concurrency
        self.lease_grace_s = lease_grace_s
        self.drain_timeout_s = drain_timeout_s
        self.circuit_failure_threshold = circuit_failure_threshold
        self.circuit_reset_timeout_s = circuit_reset_timeout_s
        self._actions: dict[str, ActionDefinition] = {}
        self._compensations: dict[str, CompensationDefinition] = {}
        self.start_hooks: list[Hook] = []
        self.stop_hooks: list[Hook] = []

    @property
    def service_name(self) -> str:
        return f"executor-{self.family}"

    def __repr__(self) -> str:
        return f"Executor({self.family!r}, actions={sorted(self._actions)})"

    # --- declaring ------------------------------------------------------------------------

    def _check_type(self, action_type: str) -> None:
        family, dot, name = action_type.partition(".")
        parts_ok = all(ACTION_NAME.fullmatch(p) for p in name.split(".")) if dot else True
        if family != self.family or not parts_ok:
            raise ActionRegistryError(
                f"action type {action_type!r} does not belong to executor {self.family!r}: "
                f"use {self.family!r} or '{self.family}.<name>' (lower case, digits, - and _)"
            )

    @staticmethod
    def _check_handler(action_type: str, handler: Callable[..., Any], model: Any) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise ActionRegistryError(f"handler of {action_type!r} must be an 'async def'")
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ActionRegistryError(
                f"inputs of {action_type!r} must be a pydantic BaseModel class, got {model!r}"
            )

    def action(
        self,
        action_type: str,
        *,
        inputs: type[BaseModel],
        description: str = "",
        compensated_by: str | None = None,
    ) -> Callable[[H], H]:
        """Declare ``action_type``: ``async def handler(inputs, ctx) -> dict``."""
        self._check_type(action_type)
        if action_type in self._actions:
            raise DuplicateActionType(
                f"action type {action_type!r} is already declared by executor {self.family!r}"
            )
        if compensated_by is not None:
            self._check_type(compensated_by)

        def register(handler: H) -> H:
            self._check_handler(action_type, handler, inputs)
            if action_type in self._actions:
                raise DuplicateActionType(f"action type {action_type!r} is already declared")
            doc = description or inspect.getdoc(handler) or ""
            self._actions[action_type] = ActionDefinition(
                action_type, inputs, handler, doc, compensated_by
            )
            return handler

        return register

    def compensate(
        self, action_type: str, *, inputs: type[BaseModel] | None = None, description: str = ""
    ) -> Callable[[H], H]:
        """Declare the undo of ``action_type`` (inputs default to the action's model).

        In the handler, ``ctx.outputs`` holds what the completed step returned.
        """
        self._check_type(action_type)
        definition = self._actions.get(action_type)
        if definition is None:
            raise UnknownActionType(
                f"cannot declare a compensation for {action_type!r}: declare the action first"
            )
        if action_type in self._compensations or definition.compensated_by:
            raise DuplicateActionType(f"compensation of {action_type!r} is already declared")
        model = inputs or definition.inputs

        def register(handler: H) -> H:
            self._check_handler(f"compensate {action_type}", handler, model)
            if action_type in self._compensations:
                raise DuplicateActionType(f"compensation of {action_type!r} is already declared")
            doc = description or inspect.getdoc(handler) or ""
            self._compensations[action_type] = CompensationDefinition(
                action_type, model, handler, doc
            )
            return handler

        return register

    def on_start(self, hook: Hook) -> Hook:
        """Run ``hook(runtime)`` when the service has connected, before the first action."""
        self.start_hooks.append(hook)
        return hook

    def on_stop(self, hook: Hook) -> Hook:
        """Run ``hook(runtime)`` at shutdown, after running actions were drained."""
        self.stop_hooks.append(hook)
        return hook

    def validate(self) -> None:
        """Fail loudly on what only the whole registry shows (a missing compensating action)."""
        if not self._actions:
            raise ActionRegistryError(f"executor {self.family!r} declares no action")
        for definition in self._actions.values():
            target = definition.compensated_by
            if target is not None and target not in self._actions:
                raise UnknownActionType(
                    f"{definition.action_type!r} is compensated by {target!r}, "
                    f"which executor {self.family!r} does not declare"
                )

    # --- looking up -----------------------------------------------------------------------

    @property
    def action_types(self) -> list[str]:
        return sorted(self._actions)

    def get(self, action_type: str) -> ActionDefinition:
        try:
            return self._actions[action_type]
        except KeyError:
            raise UnknownActionType(
                f"unknown action type {action_type!r}; executor {self.family!r} serves "
                f"{self.action_types}"
            ) from None

    def route_execute(self, action_type: str) -> Route:
        definition = self.get(action_type)
        return Route(action_type, definition.inputs, definition.handler, False, "action")

    def route_compensate(self, action_type: str) -> Route:
        compensation = self._compensations.get(action_type)
        if compensation is not None:
            return Route(
                action_type, compensation.inputs, compensation.handler, True, "compensation"
            )
        definition = self.get(action_type)
        if definition.compensated_by is not None:
            undo = self.get(definition.compensated_by)
            via = f"compensated_by {undo.action_type}"
            return Route(undo.action_type, undo.inputs, undo.handler, True, via)
        return Route(action_type, definition.inputs, definition.handler, True, "rollback action")

    def describe(self) -> list[dict[str, Any]]:
        """Every action type with its description, input schema and compensation."""
        out: list[dict[str, Any]] = []
        for action_type in self.action_types:
            definition = self._actions[action_type]
            compensation = self._compensations.get(action_type)
            out.append(
                {
                    "action_type": action_type,
                    "description": definition.description,
                    "inputs": definition.inputs.model_json_schema(),
                    "compensation": (
                        {"handler": True, "description": compensation.description}
                        if compensation
                        else {"action_type": definition.compensated_by}
                        if definition.compensated_by
                        else None
                    ),
                }
            )
        return out

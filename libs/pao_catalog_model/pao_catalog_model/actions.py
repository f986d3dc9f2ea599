"""The action types a catalog document may use, and what each one needs.

Built-in types are the executors PAO ships: what their steps take is read from the
executors' own input models (``pao_catalog_model.action_inputs``), so a step an executor
would refuse (an input missing, unknown or of the wrong type) is refused when the document
loads.
A team that deploys its own executor declares its type so documents using it validate:

- ``PAO_EXTRA_ACTION_TYPES=acme.dns,acme.vault:rollback`` (``:rollback`` = it can compensate), or
- a registry file named by ``PAO_ACTION_TYPES_FILE`` (or ``pao catalog validate --actions``)::

      actions:
        - type: acme.certificate
          description: Issue a TLS certificate from the ACME CA
          supports_rollback: true
          required_inputs: [common_name]      # must be in every step's with:
          optional_inputs: [alt_names, ttl_days]
          closed: true                        # nothing else is accepted
          rollback_inputs: [common_name]      # must be in a rollback's with:

Declaring a built-in name again is an error: a type means one thing everywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pao_catalog_model.action_inputs import BUILTIN_ACTIONS, ActionContract, InputProblem
from pao_catalog_model.errors import InvalidCatalogDocument, UnknownActionType

ACTION_TYPE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$")


@dataclass(frozen=True)
class ActionType:
    """One action type: its name, whether it can undo (``rollback:``), the inputs it takes.

    ``closed`` types accept only ``required_inputs`` + ``optional_inputs``; the others
    may take more than listed. ``rollback_inputs`` are required in a ``rollback: with:``.
    """

    name: str
    description: str = ""
    supports_rollback: bool = False
    required_inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = field(default=(), compare=False)
    rollback_inputs: tuple[str, ...] = ()
    closed: bool = False
    contract: ActionContract | None = field(default=None, compare=False, repr=False)

    def unknown_inputs(self, names: Iterable[str]) -> list[str]:
        if not self.closed:
            return []
        known = {*self.required_inputs, *self.optional_inputs}
        return sorted(n for n in names if n not in known)

    def input_problems(self, with_: Mapping[str, Any]) -> Iterator[InputProblem]:
        """What this action would refuse in a step's ``with:`` (paths inside it)."""
        if self.contract is not None:
            yield from self.contract.rules.problems(with_)
            return
        for name in self.required_inputs:
            if name not in with_:
                yield InputProblem((), f"needs input {name!r}")
        for name in self.unknown_inputs(with_):
            yield InputProblem((name,), f"has no input {name!r}")

    def rollback_problems(self, with_: Mapping[str, Any]) -> Iterator[InputProblem]:
        """What this action's compensation would refuse in a ``rollback: with:``."""
        if self.contract is not None:
            yield from self.contract.rollback_rules.problems(with_)
            return
        for name in self.rollback_inputs:
            if name not in with_:
                yield InputProblem((), f"needs input {name!r}")


def builtin_action_types() -> tuple[ActionType, ...]:
    """The executors' own action types, read from their input models
    (``pao_catalog_model.action_inputs``): a step's inputs are checked as the executor will."""
    return tuple(
        ActionType(
            contract.action_type,
            contract.description,
            supports_rollback=True,  # any executor action can be a rollback's (the SDK routes it)
            required_inputs=contract.rules.required,
            optional_inputs=contract.rules.optional,
            rollback_inputs=contract.rollback_rules.required,
            closed=contract.rules.closed,
            contract=contract,
        )
        for contract in BUILTIN_ACTIONS
        if contract.catalog
    )


#: Built-in action types only the orchestrator sends (no catalog step may name them).
ORCHESTRATOR_ACTIONS = frozenset(c.action_type for c in BUILTIN_ACTIONS if not c.catalog)


class ActionRegistry:
    """Action types by name; unknown or duplicate types fail loudly."""

    def __init__(self, types: Iterable[ActionType] | None = None) -> None:
        self._types: dict[str, ActionType] = {}
        for action in builtin_action_types() if types is None else types:
            self.add(action)

    def add(self, action: ActionType) -> None:
        if not ACTION_TYPE.match(action.name):
            raise InvalidCatalogDocument([f"invalid action type name {action.name!r}"])
        if action.name in self._types or action.name in ORCHESTRATOR_ACTIONS:
            raise InvalidCatalogDocument([f"action type {action.name!r} is declared twice"])
        self._types[action.name] = action

    def get(self, name: str) -> ActionType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownActionType(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def extended(self, types: Iterable[ActionType]) -> ActionRegistry:
        registry = ActionRegistry(self._types.values())
        for action in types:
            registry.add(action)
        return registry


def parse_extra(spec: str) -> list[ActionType]:
    """``"acme.dns,acme.vault:rollback"`` -> two action types."""
    types = []
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, _, flag = entry.partition(":")
        if flag not in ("", "rollback"):
            raise InvalidCatalogDocument([f"PAO_EXTRA_ACTION_TYPES: unknown flag {flag!r}"])
        types.append(ActionType(name.strip(), supports_rollback=flag == "rollback"))
    return types


def read_registry_file(path: Path) -> list[ActionType]:
    """The action types declared in a registry file (see the module docstring)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidCatalogDocument([f"{path}: cannot read action types: {exc}"]) from None
    entries = data.get("actions") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidCatalogDocument([f"{path}: expected a mapping with an 'actions' list"])
    types = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
            raise InvalidCatalogDocument([f"{path}: actions[{index}]: needs a 'type' string"])
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("required_inputs", "optional_inputs", "rollback_inputs"):
            names = entry.get(key) or []
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise InvalidCatalogDocument(
                    [f"{path}: actions[{index}].{key}: expected a list of names"]
                )
            lists[key] = tuple(names)
        types.append(
            ActionType(
                entry["type"],
                str(entry.get("description") or ""),
                supports_rollback=bool(entry.get("supports_rollback", False)),
                closed=bool(entry.get("closed", False)),
                required_inputs=lists["required_inputs"],
                optional_inputs=lists["optional_inputs"],
                rollback_inputs=lists["rollback_inputs"],
            )
        )
    return types


def default_registry(
    environ: Mapping[str, str] | None = None, extra_file: Path | None = None
) -> ActionRegistry:
    """Built-ins, ``PAO_EXTRA_ACTION_TYPES`` and ``PAO_ACTION_TYPES_FILE`` (or ``extra_file``)."""
    env = os.environ if environ is None else environ
    extra = parse_extra(env.get("PAO_EXTRA_ACTION_TYPES", ""))
    file = extra_file or (
        Path(env["PAO_ACTION_TYPES_FILE"]) if env.get("PAO_ACTION_TYPES_FILE") else None
    )
    if file is not None:
        extra += read_registry_file(file)
    return ActionRegistry().extended(extra)

"""The action types a catalog document may use, and what each one needs.

Built-in types are the executors PAO ships. A team that deploys its own executor declares
its type so documents using it validate:

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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

    def unknown_inputs(self, names: Iterable[str]) -> list[str]:
        if not self.closed:
            return []
        known = {*self.required_inputs, *self.optional_inputs}
        return sorted(n for n in names if n not in known)


BUILTIN_ACTION_TYPES: tuple[ActionType, ...] = (
    ActionType(
        "jira",
        "Create a JIRA issue (rollback: comment on and close it)",
        supports_rollback=True,
        required_inputs=("project", "issue_type", "summary"),
        optional_inputs=(
            "description",
            "labels",
            "components",
            "priority",
            "assignee",
            "custom_fields",
            "issue_key",
            "transition",
            "comment",
        ),
    ),
    ActionType(
        "rest",
        "Call an HTTP API (rollback: another call, e.g. DELETE)",
        supports_rollback=True,
        required_inputs=("method", "url"),
        rollback_inputs=("method", "url"),
        optional_inputs=("headers", "json", "body", "query", "expected_status", "outputs"),
    ),
    ActionType(
        "terraform",
        "Run a Terraform plan and apply in a workspace (rollback: destroy)",
        supports_rollback=True,
        required_inputs=("workspace",),
        rollback_inputs=("workspace",),
        optional_inputs=(
            "variables",
            "destroy",
            "message",
            "module",
            "organization",
            "env_variables",
            "sensitive",
            "confirm",
            "destroy_on_error",
        ),
    ),
    ActionType(
        "github-workflow",
        "Dispatch a GitHub Actions workflow and wait for its run",
        supports_rollback=True,
        required_inputs=("owner", "repo", "workflow"),
        rollback_inputs=("owner", "repo", "workflow"),
        optional_inputs=(
            "ref",
            "inputs",
            "correlation_input",
            "artifact",
            "artifact_file",
            "artifact_required",
        ),
    ),
    ActionType(
        "debug.log",
        "Log a message and return it as output {message, logged_at}",
        supports_rollback=True,
        required_inputs=("message",),
        optional_inputs=("level", "outputs"),
        closed=True,
    ),
    ActionType(
        "debug.wait",
        "Sleep a number of seconds, reporting progress",
        supports_rollback=True,
        required_inputs=("seconds",),
        optional_inputs=("progress_every_s",),
        closed=True,
    ),
    ActionType(
        "debug.fail",
        "Fail (or succeed) per attempt, to exercise retries, rollback and fallback",
        supports_rollback=True,
        optional_inputs=(
            "pattern",
            "fail_attempts",
            "times",
            "retryable",
            "error",
            "message",
            "outputs",
        ),
        closed=True,
    ),
)


class ActionRegistry:
    """Action types by name; unknown or duplicate types fail loudly."""

    def __init__(self, types: Iterable[ActionType] = BUILTIN_ACTION_TYPES) -> None:
        self._types: dict[str, ActionType] = {}
        for action in types:
            self.add(action)

    def add(self, action: ActionType) -> None:
        if not ACTION_TYPE.match(action.name):
            raise InvalidCatalogDocument([f"invalid action type name {action.name!r}"])
        if action.name in self._types:
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
        lists = {}
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
                **lists,
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

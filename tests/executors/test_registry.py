"""The action registry fails loudly on unknown, duplicate or misplaced action types."""

from __future__ import annotations

from typing import Any

import pytest
from pao_common.errors import (
    ActionRegistryError,
    ConfigurationError,
    DuplicateActionType,
    UnknownActionType,
)
from pao_common.executor import ActionContext, Executor
from pydantic import BaseModel


class Inputs(BaseModel):
    name: str


async def handler(inputs: Inputs, ctx: ActionContext) -> dict[str, Any]:
    return {"name": inputs.name}


async def other(inputs: Inputs, ctx: ActionContext) -> dict[str, Any]:
    return {}


def test_declared_action_is_found_with_its_model() -> None:
    executor = Executor("acme")
    executor.action("acme.create", inputs=Inputs, description="Create it")(handler)
    definition = executor.get("acme.create")
    assert definition.inputs is Inputs and definition.handler is handler
    assert executor.action_types == ["acme.create"]
    [described] = executor.describe()
    assert described["description"] == "Create it"
    assert described["inputs"]["required"] == ["name"]


def test_an_action_type_may_be_the_family_itself() -> None:
    executor = Executor("jira")
    executor.action("jira", inputs=Inputs)(handler)
    assert executor.route_execute("jira").handler is handler


def test_duplicate_action_type_fails_loudly() -> None:
    executor = Executor("acme")
    executor.action("acme.create", inputs=Inputs)(handler)
    with pytest.raises(DuplicateActionType, match=r"acme\.create"):
        executor.action("acme.create", inputs=Inputs)(other)
    assert executor.get("acme.create").handler is handler, "the first declaration stands"


@pytest.mark.parametrize("action_type", ["other.create", "acmex.create", "acme.", "acme.Create"])
def test_action_type_outside_the_family_fails(action_type: str) -> None:
    with pytest.raises(ActionRegistryError, match="does not belong to executor 'acme'"):
        Executor("acme").action(action_type, inputs=Inputs)


@pytest.mark.parametrize("family", ["", "Acme", "acme.x", "1acme"])
def test_invalid_family_fails(family: str) -> None:
    with pytest.raises(ActionRegistryError, match="executor family"):
        Executor(family)


def test_sync_handler_and_non_model_inputs_fail() -> None:
    executor = Executor("acme")

    def sync(inputs: Inputs, ctx: ActionContext) -> dict[str, Any]:
        return {}

    with pytest.raises(ActionRegistryError, match="async def"):
        executor.action("acme.a", inputs=Inputs)(sync)  # type: ignore[type-var]
    with pytest.raises(ActionRegistryError, match="pydantic BaseModel"):
        executor.action("acme.b", inputs=dict)(handler)  # type: ignore[arg-type]
    assert executor.action_types == []


def test_unknown_action_type_fails_and_is_a_configuration_error() -> None:
    executor = Executor("acme")
    executor.action("acme.create", inputs=Inputs)(handler)
    with pytest.raises(UnknownActionType, match=r"'acme.delete'.*serves \['acme.create'\]"):
        executor.get("acme.delete")
    assert issubclass(UnknownActionType, ConfigurationError)


def test_compensation_needs_a_declared_action_and_only_one() -> None:
    executor = Executor("acme")
    with pytest.raises(UnknownActionType, match="declare the action first"):
        executor.compensate("acme.create")
    executor.action("acme.create", inputs=Inputs)(handler)
    executor.compensate("acme.create")(other)
    with pytest.raises(DuplicateActionType, match=r"compensation of 'acme\.create'"):
        executor.compensate("acme.create")(other)


def test_compensating_action_type_must_exist_and_excludes_a_handler() -> None:
    executor = Executor("acme")
    executor.action("acme.create", inputs=Inputs, compensated_by="acme.delete")(handler)
    with pytest.raises(UnknownActionType, match=r"compensated by 'acme\.delete'"):
        executor.validate()
    executor.action("acme.delete", inputs=Inputs)(other)
    executor.validate()
    with pytest.raises(DuplicateActionType):
        executor.compensate("acme.create")


def test_executor_without_actions_does_not_validate() -> None:
    with pytest.raises(ActionRegistryError, match="declares no action"):
        Executor("acme").validate()


class UndoInputs(BaseModel):
    reason: str = "rollback"


def test_compensation_routing_order() -> None:
    executor = Executor("acme")

    async def create(inputs: Inputs, ctx: ActionContext) -> dict[str, Any]:
        return {}

    async def undo_create(inputs: UndoInputs, ctx: ActionContext) -> dict[str, Any]:
        return {}

    async def grant(inputs: Inputs, ctx: ActionContext) -> dict[str, Any]:
        return {}

    async def revoke(inputs: Inputs, ctx: ActionContext) -> dict[str, Any]:
        return {}

    async def notify(inputs: Inputs, ctx: ActionContext) -> dict[str, Any]:
        return {}

    executor.action("acme.create", inputs=Inputs)(create)
    executor.compensate("acme.create", inputs=UndoInputs)(undo_create)
    executor.action("acme.grant", inputs=Inputs, compensated_by="acme.revoke")(grant)
    executor.action("acme.revoke", inputs=Inputs)(revoke)
    executor.action("acme.notify", inputs=Inputs)(notify)

    by_handler = executor.route_compensate("acme.create")
    assert (by_handler.handler, by_handler.inputs, by_handler.via) == (
        undo_create,
        UndoInputs,
        "compensation",
    )
    by_type = executor.route_compensate("acme.grant")
    assert (by_type.handler, by_type.action_type) == (revoke, "acme.revoke")
    plain = executor.route_compensate("acme.notify")
    assert (plain.handler, plain.via) == (notify, "rollback action")
    assert all(r.compensation for r in (by_handler, by_type, plain))
    assert not executor.route_execute("acme.create").compensation
    with pytest.raises(UnknownActionType):
        executor.route_compensate("acme.unknown")

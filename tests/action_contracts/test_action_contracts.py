"""Action types declared once: the catalog refuses at load time what the executor would.

Every built-in executor validates its commands with the models of
``pao_catalog_model.action_inputs``, and the catalog reads the same models. For every
built-in action type (parametrised over ``BUILTIN_ACTIONS``, which the first test ties to
what the executors serve): a step with a required input missing, an unknown input or a
value the model refuses is refused when the document loads, as ``file:line path:
message``; a value the model accepts is accepted; and a document the catalog accepts
renders inputs the executor's model validates.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pao_catalog_model.action_inputs import BUILTIN_ACTIONS, ActionContract
from pao_catalog_model.actions import ActionRegistry
from pao_catalog_model.loader import CatalogError, LoadResult, load_file
from pao_catalog_model.preview import render_plan
from pao_cli.dev import sandbox_environment
from pao_executors.builtin import service_executors
from pydantic import BaseModel, ValidationError

CATALOG = [c for c in BUILTIN_ACTIONS if c.catalog]
ORCHESTRATOR_ONLY = [c for c in BUILTIN_ACTIONS if not c.catalog]
STEP = ("fulfillment", "automated", "steps", 0)
WITH = "fulfillment.automated.steps[0].with"
# Literal values of every JSON type (and edge values); each is tried in every input.
CANDIDATES: list[Any] = [
    {"not": "this"},
    ["x", 1],
    12345,
    -1,
    0.5,
    "not-a-value",
    "",
    True,
    None,
]


def ids(contracts: Iterable[ActionContract]) -> list[str]:
    return [c.action_type for c in contracts]


def document(
    action: str,
    with_: dict[str, Any],
    rollback: dict[str, Any] | None = None,
    *,
    after_a_step: bool = False,
) -> str:
    """An item whose step ``act`` runs ``action`` (after a ``debug.log`` step ``first``
    with ``after_a_step``, so ``act`` may read ``steps.first.outputs``)."""
    step: dict[str, Any] = {"id": "act", "action": action, "with": with_}
    if rollback is not None:
        step["rollback"] = rollback
    first = {"id": "first", "action": "debug.log", "with": {"message": "hi"}}
    doc = {
        "schemaVersion": "2.0",
        "metadata": {
            "id": "contract-check",
            "name": "Contract check",
            "version": "1.0.0",
            "owner": "platform",
            "category": "debug",
        },
        "presentation": {
            "fields": [{"id": "name", "type": "string", "label": "Name", "required": True}]
        },
        "fulfillment": {
            "mode": "automated",
            "automated": {"steps": [first, step] if after_a_step else [step]},
        },
        "examples": [{"name": "basic", "user": {"id": "alice"}, "inputs": {"name": "x"}}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def load(tmp_path: Path, text: str) -> LoadResult:
    path = tmp_path / "item.yaml"
    path.write_text(text)
    return load_file(path, registry=ActionRegistry())


def refusal(result: LoadResult, path: str) -> CatalogError:
    """The one error at ``path`` (or inside it), with its file and line."""
    assert result.item is None, "the document was accepted"
    found = [
        e for e in result.errors if e.path == path or e.path.startswith((path + ".", path + "["))
    ]
    assert found, [str(e) for e in result.errors]
    error = found[0]
    assert error.line is not None, str(error)
    assert str(error).startswith(f"{result.file}:{error.line} {error.path}: "), str(error)
    return error


def line_with(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def input_line(text: str, name: str) -> int:
    """The line of input ``name`` of the step's ``with:``."""
    lines = text.splitlines()
    start = line_with(text, "with:")
    return next(n for n in range(start, len(lines) + 1) if f" {name}:" in lines[n - 1])


def admits_string(schema: Any, definitions: Any) -> bool:
    """Whether a JSON Schema takes some string (its type, whatever its content rules)."""
    if not isinstance(schema, dict):
        return True
    if "$ref" in schema:
        return admits_string(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    if "anyOf" in schema or "oneOf" in schema:
        branches = schema.get("anyOf", []) + schema.get("oneOf", [])
        return any(admits_string(b, definitions) for b in branches)
    kind = schema.get("type")
    return kind is None or kind == "string" or (isinstance(kind, list) and "string" in kind)


def refuses(model: type[BaseModel], inputs: dict[str, Any]) -> bool:
    try:
        model.model_validate(inputs)
    except ValidationError:
        return True
    return False


# --- the executors serve exactly these contracts --------------------------------------------


def test_every_builtin_executor_validates_with_the_shared_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env, _ = sandbox_environment({}, "http://127.0.0.1:9", gateway_port=9)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    contracts = {c.action_type: c for c in BUILTIN_ACTIONS}
    served = set()
    for executor in service_executors():
        for action_type in executor.action_types:
            assert action_type in contracts, f"{action_type} has no contract in pao_common"
            contract = contracts[action_type]
            assert executor.route_execute(action_type).inputs is contract.inputs
            assert executor.route_compensate(action_type).inputs is contract.compensation_inputs
            served.add(action_type)
    assert served == set(contracts), "a contract no executor serves"


@pytest.mark.parametrize("contract", BUILTIN_ACTIONS, ids=ids(BUILTIN_ACTIONS))
def test_the_example_is_what_the_model_takes(contract: ActionContract) -> None:
    contract.inputs.model_validate(contract.example)


# --- what the catalog accepts, the executor takes -------------------------------------------


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_an_accepted_document_renders_inputs_the_executor_takes(
    contract: ActionContract, tmp_path: Path
) -> None:
    result = load(tmp_path, document(contract.action_type, dict(contract.example)))
    assert result.errors == [] and result.item is not None
    example = result.item.examples[0]
    [step] = render_plan(result.item, example.inputs, example.user)["steps"]
    contract.inputs.model_validate(step["with"])


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_a_missing_required_input_is_refused(contract: ActionContract, tmp_path: Path) -> None:
    for name in contract.rules.required:
        inputs = {k: v for k, v in contract.example.items() if k != name}
        assert refuses(contract.inputs, inputs)
        error = refusal(load(tmp_path, document(contract.action_type, inputs)), WITH)
        assert error.path == WITH
        assert error.message == f"action {contract.action_type} needs input {name!r}"


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_an_unknown_input_is_refused_where_the_model_refuses_it(
    contract: ActionContract, tmp_path: Path
) -> None:
    inputs = {**contract.example, "no_such_input": "x"}
    text = document(contract.action_type, inputs)
    result = load(tmp_path, text)
    if not refuses(contract.inputs, inputs):
        assert not contract.rules.closed and result.errors == []
        return
    error = refusal(result, f"{WITH}.no_such_input")
    assert error.line == input_line(text, "no_such_input")
    assert error.message == f"action {contract.action_type} has no input 'no_such_input'"


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_a_written_out_value_is_refused_exactly_when_the_model_refuses_it(
    contract: ActionContract, tmp_path: Path
) -> None:
    refused = 0
    for rule in contract.rules.fields:
        name = rule.names[0]
        for value in CANDIDATES:
            inputs = {**contract.example, name: value}
            text = document(contract.action_type, inputs)
            result = load(tmp_path, text)
            if refuses(contract.inputs, inputs):
                refused += 1
                error = refusal(result, WITH)
                assert error.path.startswith(f"{WITH}.{name}") or error.path == WITH, error
                if error.path.startswith(f"{WITH}.{name}"):
                    # the value's line: the key's, or one of the block's below it
                    assert error.line is not None
                    assert 0 <= error.line - input_line(text, name) <= len(CANDIDATES), error
            else:
                assert result.errors == [], (name, value, [str(e) for e in result.errors])
    assert refused, "no value of any input is refused: the check proves nothing"


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_a_step_output_may_be_of_any_type_until_the_run(
    contract: ActionContract, tmp_path: Path
) -> None:
    for rule in contract.rules.fields:
        inputs = {**contract.example, rule.names[0]: "{{ steps.first.outputs.value }}"}
        result = load(tmp_path, document(contract.action_type, inputs, after_a_step=True))
        assert result.errors == [], (rule.names[0], [str(e) for e in result.errors])


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_what_an_example_renders_is_refused_exactly_when_the_model_refuses_it(
    contract: ActionContract, tmp_path: Path
) -> None:
    for rule in contract.rules.fields:
        name = rule.names[0]
        for value in CANDIDATES:
            literal = "none" if value is None else json.dumps(value)
            inputs = {**contract.example, name: "{{ " + literal + " }}"}
            text = document(contract.action_type, inputs)
            result = load(tmp_path, text)
            if refuses(contract.inputs, {**contract.example, name: value}):
                error = refusal(result, f"{WITH}.{name}")
                assert "refuses what example 'basic' renders" in error.message, error
                assert error.line == input_line(text, name)
            else:
                assert result.errors == [], (name, value, [str(e) for e in result.errors])


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_a_template_that_is_not_a_lone_expression_is_a_string(
    contract: ActionContract, tmp_path: Path
) -> None:
    for rule in contract.rules.fields:
        name = rule.names[0]
        text_template = {**contract.example, name: "x-{{ inputs.name }}"}
        result = load(tmp_path, document(contract.action_type, text_template))
        if not admits_string(rule.schema, contract.rules.definitions):
            error = refusal(result, f"{WITH}.{name}")
            assert "renders to a string" in error.message, error
        elif refuses(contract.inputs, {**contract.example, name: "x-x"}):
            error = refusal(result, f"{WITH}.{name}")
            assert "refuses what example 'basic' renders" in error.message, error
        else:
            assert result.errors == [], (name, [str(e) for e in result.errors])


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_a_rollback_is_checked_with_what_the_example_renders(
    contract: ActionContract, tmp_path: Path
) -> None:
    model = contract.compensation_inputs
    undo = dict(contract.example) if model is contract.inputs else {}
    for rule in contract.rollback_rules.fields:
        name = rule.names[0]
        inputs = {**undo, name: "{{ ['x', 1] }}"}
        text = document(contract.action_type, dict(contract.example), {"with": inputs})
        result = load(tmp_path, text)
        if refuses(model, {**undo, name: ["x", 1]}):
            error = refusal(result, f"fulfillment.automated.steps[0].rollback.with.{name}")
            assert "refuses what example 'basic' renders" in error.message, error
        else:
            assert result.errors == [], (name, [str(e) for e in result.errors])


def test_the_manual_ticket_is_what_the_jira_action_takes(tmp_path: Path) -> None:
    text = document("debug.log", {"message": "hi"})
    doc = yaml.safe_load(text)
    doc["fulfillment"] = {
        "mode": "manual",
        "manual": {
            "jira": {
                "project": "OPS",
                "summary": "Please do {{ inputs.name }}",
                "labels": ["pao", "{{ 'two ' ~ inputs.name }}"],
            }
        },
    }
    text = yaml.safe_dump(doc, sort_keys=False)
    error = refusal(load(tmp_path, text), "fulfillment.manual.jira.labels")
    assert "the jira action refuses the ticket example 'basic' renders" in error.message
    assert "labels cannot be empty or contain spaces: 'two x'" in error.message


# --- a rollback's with: is what the compensation takes --------------------------------------


@pytest.mark.parametrize("contract", CATALOG, ids=ids(CATALOG))
def test_a_rollback_is_checked_against_the_compensation_model(
    contract: ActionContract, tmp_path: Path
) -> None:
    model = contract.compensation_inputs
    rules = contract.rollback_rules
    undo = dict(contract.example) if model is contract.inputs else {}
    ok = load(tmp_path, document(contract.action_type, dict(contract.example), {"with": undo}))
    assert ok.errors == [], [str(e) for e in ok.errors]
    for name in rules.required:
        partial = {k: v for k, v in undo.items() if k != name}
        assert refuses(model, partial)
        text = document(contract.action_type, dict(contract.example), {"with": partial})
        error = refusal(load(tmp_path, text), "fulfillment.automated.steps[0].rollback.with")
        assert error.message == f"rollback action {contract.action_type} needs input {name!r}"
    extra = {**undo, "no_such_input": "x"}
    text = document(contract.action_type, dict(contract.example), {"with": extra})
    result = load(tmp_path, text)
    if refuses(model, extra):
        error = refusal(result, "fulfillment.automated.steps[0].rollback.with.no_such_input")
        assert error.line == line_with(text, "no_such_input:")
    else:
        assert result.errors == [], "the compensation ignores what it does not take"


# --- what only the orchestrator sends --------------------------------------------------------


@pytest.mark.parametrize("contract", ORCHESTRATOR_ONLY, ids=ids(ORCHESTRATOR_ONLY))
def test_a_step_cannot_name_an_action_only_the_orchestrator_sends(
    contract: ActionContract, tmp_path: Path
) -> None:
    text = document(contract.action_type, dict(contract.example))
    error = refusal(load(tmp_path, text), "fulfillment.automated.steps[0].action")
    assert error.line == line_with(text, f"action: {contract.action_type}")


def test_a_team_cannot_redeclare_a_builtin_action_type() -> None:
    from pao_catalog_model.actions import ActionType
    from pao_catalog_model.errors import InvalidCatalogDocument

    for contract in CATALOG:
        with pytest.raises(InvalidCatalogDocument, match="declared twice"):
            ActionRegistry().extended([ActionType(contract.action_type)])


def test_documents_are_not_changed_by_being_checked(tmp_path: Path) -> None:
    contract = CATALOG[0]
    inputs = copy.deepcopy(dict(contract.example))
    load(tmp_path, document(contract.action_type, inputs))
    assert inputs == contract.example

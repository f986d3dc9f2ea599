"""``resource:`` and ``operations:``: load-time checks, operation forms and their validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pao_catalog_model.errors import OperationNotFound
from pao_catalog_model.forms import (
    build_form,
    operation_form,
    operation_inputs,
    validate_operation_inputs,
)
from pao_catalog_model.model import CatalogItem
from pao_catalog_model.preview import render_operation_plan

from tests.catalog_lib.support import load, messages, minimal, write


def _with_ops(*operations: dict[str, Any], **resource: Any) -> dict[str, Any]:
    doc = minimal()
    doc["operations"] = list(operations)
    if resource:
        doc["resource"] = resource
    return doc


def _automated(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"mode": "automated", "automated": {"steps": list(steps), **extra}}


def _log(message: str, step_id: str = "log") -> dict[str, Any]:
    return {"id": step_id, "action": "debug.log", "with": {"message": message}}


UPDATE: dict[str, Any] = {
    "id": "update",
    "title": "Resize",
    "presentation": {
        "fields": [
            {"id": "size", "type": "integer", "label": "Size", "validation": {"maximum": 9}},
            {"id": "reason", "type": "string", "label": "Why", "required": True},
        ]
    },
    "fulfillment": _automated(
        _log("{{ resource.outputs.message }} {{ resource.inputs.name }} -> {{ inputs.size }}"),
        outputs={"size": "{{ inputs.size }}"},
    ),
}
DECOMMISSION: dict[str, Any] = {
    "id": "decommission",
    "title": "Decommission",
    "approval": {"required": True, "approvers": {"teams": ["platform"]}},
    "fulfillment": {
        "mode": "manual",
        "manual": {"jira": {"project": "OPS", "summary": "Remove {{ resource.name }}"}},
    },
}


def _item(tmp_path: Path) -> CatalogItem:
    result = load(
        tmp_path,
        _with_ops(
            UPDATE,
            DECOMMISSION,
            name="{{ inputs.name }}-{{ resource.id[:4] }}",
            owner_input="name",
            cmdb={"ci_class": "cmdb_ci_x", "fields": {"name": "{{ resource.name }}"}},
        ),
    )
    assert messages(result) == []
    assert result.item is not None
    return result.item


# --- load-time checks ---------------------------------------------------------------------


def test_a_sound_item_with_operations_loads(tmp_path: Path) -> None:
    item = _item(tmp_path)
    assert [o.id for o in item.operations] == ["update", "decommission"]
    assert item.decommissionable


def test_duplicate_operation_id(tmp_path: Path) -> None:
    result = load(tmp_path, _with_ops(DECOMMISSION, {**DECOMMISSION, "title": "Again"}))
    assert messages(result) == [
        "operations[1].id: duplicate operation id 'decommission' (first at operations[0].id)"
    ]


@pytest.mark.parametrize("bad", ["Update", "1st", "re_size", "a b", ""])
def test_operation_id_pattern(tmp_path: Path, bad: str) -> None:
    result = load(tmp_path, _with_ops({**DECOMMISSION, "id": bad}))
    assert [e.path for e in result.errors] == ["operations[0].id"]


def test_unknown_variable_in_an_operation_has_file_and_line(tmp_path: Path) -> None:
    op = {**DECOMMISSION, "fulfillment": _automated(_log("{{ inputs.name }} {{ resource.nme }}"))}
    path = write(tmp_path, _with_ops(op))
    result = load(tmp_path, path.read_text())
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "resource.nme" in t)
    where = f"{result.file}:{line} operations[0].fulfillment.automated.steps[0].with.message"
    assert [str(e) for e in result.errors] == [
        f"{where}: unknown variable inputs.name: no field 'name'",
        f"{where}: unknown variable resource.nme "
        "(known here: id, inputs, item_version, name, outputs, owner_team)",
    ]


def test_resource_outputs_must_be_declared_by_provisioning(tmp_path: Path) -> None:
    op = {**DECOMMISSION, "fulfillment": _automated(_log("{{ resource.outputs.host }}"))}
    result = load(tmp_path, _with_ops(op))
    assert messages(result) == [
        "operations[0].fulfillment.automated.steps[0].with.message: unknown variable "
        "resource.outputs.host: the item's provisioning declares no output 'host' "
        "(fulfillment.automated.outputs: message)"
    ]


def test_resource_inputs_must_be_item_fields(tmp_path: Path) -> None:
    op = {**DECOMMISSION, "fulfillment": _automated(_log("{{ resource.inputs.colour }}"))}
    assert messages(load(tmp_path, _with_ops(op))) == [
        "operations[0].fulfillment.automated.steps[0].with.message: unknown variable "
        "resource.inputs.colour: the item has no field 'colour'"
    ]


def test_provisioning_cannot_read_resource(tmp_path: Path) -> None:
    doc = minimal()
    doc["fulfillment"]["automated"]["steps"][0]["with"]["message"] = "{{ resource.id }}"
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[0].with.message: resource.id: resource is available "
        "only in an operation's templates and in resource:"
    ]


def test_a_mixed_manual_and_automated_operation(tmp_path: Path) -> None:
    mixed = {**DECOMMISSION["fulfillment"], "automated": {"steps": [_log("x")]}}
    result = load(tmp_path, _with_ops({**DECOMMISSION, "fulfillment": mixed}))
    assert [e.path for e in result.errors] == ["operations[0].fulfillment"]
    automated_with_ticket = {
        **_automated(_log("x")),
        "manual": DECOMMISSION["fulfillment"]["manual"],
    }
    result = load(tmp_path, _with_ops({**DECOMMISSION, "fulfillment": automated_with_ticket}))
    assert messages(result) == [
        "operations[0].fulfillment.manual: a manual ticket in an automated item is used only "
        "with fallback_to_manual: true"
    ]
    fallback = _automated(_log("x"), fallback_to_manual=True)
    result = load(tmp_path, _with_ops({**DECOMMISSION, "fulfillment": fallback}))
    assert messages(result) == [
        "operations[0].fulfillment.automated.fallback_to_manual: fallback_to_manual needs "
        "fulfillment.manual.jira, the ticket to fall back to"
    ]


def test_unknown_action_type_in_an_operation(tmp_path: Path) -> None:
    op = {**DECOMMISSION, "fulfillment": _automated({"id": "x", "action": "acme.nuke"})}
    result = load(tmp_path, _with_ops(op))
    assert len(result.errors) == 1
    assert result.errors[0].path == "operations[0].fulfillment.automated.steps[0].action"
    assert "unknown action type 'acme.nuke'" in result.errors[0].message
    assert result.errors[0].line


def test_operation_steps_see_their_own_earlier_steps_only(tmp_path: Path) -> None:
    steps = (_log("{{ steps.first.outputs.message }}"), _log("{{ steps.log.outputs.m }}", "b"))
    op = {**DECOMMISSION, "fulfillment": _automated(*steps)}
    assert messages(load(tmp_path, _with_ops(op))) == [
        "operations[0].fulfillment.automated.steps[0].with.message: unknown variable "
        "steps.first: no step 'first'"
    ]


def test_an_operation_template_failing_at_run_time_fails_at_load(tmp_path: Path) -> None:
    """Each operation is rendered on the resource each example would make, so a template
    that passes the variable checks but cannot run (a string plus a number) is refused."""
    op = {**DECOMMISSION, "fulfillment": _automated(_log("{{ resource.inputs.name + 1 }}"))}
    [problem] = messages(load(tmp_path, _with_ops(op)))
    assert problem.startswith(
        "operations[0].fulfillment.automated.steps[0].with.message: does not render on the "
        "resource of example 'basic': "
    )


def test_an_operation_plan_renders_on_the_examples_resource(tmp_path: Path) -> None:
    item = _item(tmp_path)
    example = item.examples[0]
    plan = render_operation_plan(item, "update", example.inputs, example.user)
    assert plan["operation"] == "update" and plan["approval"]["required"] is False
    [step] = plan["steps"]
    # resource.outputs are the item's outputs as provisioning renders them (a step's are
    # placeholders), size is pre-filled from the resource; reason is typed by a person.
    assert step["with"] == {"message": "<steps.second.outputs.message> x -> 1"}
    assert plan["outputs"] == {"size": 1}
    manual = render_operation_plan(item, "decommission", {"name": "db", "size": 3})
    assert manual["jira"]["summary"] == "Remove sample-preview"
    with pytest.raises(OperationNotFound):
        render_operation_plan(item, "resize", example.inputs)


def test_operation_approval_and_access_rules(tmp_path: Path) -> None:
    no_approver = {**DECOMMISSION, "approval": {"required": True, "when": "steps.x"}}
    doc = _with_ops(no_approver, {**UPDATE, "access": {}})
    doc["access"] = {"teams": ["payments"]}
    doc["examples"][0]["user"]["teams"] = ["payments"]
    assert messages(load(tmp_path, doc)) == [
        "operations[0].approval.approvers: approval is required but no approver is named",
        "operations[0].approval.when: step outputs are not available here (steps.x)",
        "operations[1].access: an empty access opens the operation to everyone while the "
        "item is restricted; name teams or roles, or omit access to use the item's",
    ]


def test_a_shared_field_keeps_the_item_fields_type(tmp_path: Path) -> None:
    op = {**UPDATE, "presentation": {"fields": [{"id": "size", "type": "string", "label": "S"}]}}
    result = load(tmp_path, _with_ops(op))
    assert messages(result) == [
        "operations[0].presentation.fields[0].type: field 'size' shares its id with the "
        "item's field, so it must be a integer like it (it is pre-filled from the resource), "
        "not a string"
    ]


def test_operation_form_rules_are_checked(tmp_path: Path) -> None:
    fields = [
        {"id": "why", "type": "integer", "label": "W", "validation": {"pattern": "x"}},
        {"id": "why", "type": "string", "label": "W2"},
    ]
    result = load(tmp_path, _with_ops({**UPDATE, "presentation": {"fields": fields}}))
    assert messages(result)[:2] == [
        "operations[0].presentation.fields[1].id: duplicate field id 'why' "
        "(first at operations[0].presentation.fields[0].id)",
        "operations[0].presentation.fields[0].validation.pattern: rule pattern does not apply "
        "to a integer field",
    ]


def test_resource_block_checks(tmp_path: Path) -> None:
    doc = _with_ops(
        name="{{ resource.name }}-{{ steps.first.outputs.message }}",
        owner_input="team",
        cmdb={
            "ci_class": "cmdb_ci_x",
            "fields": {"a": "{{ inputs.name }}", "b": "{{ resource.outputs.nope }}"},
        },
    )
    assert messages(load(tmp_path, doc)) == [
        "resource.name: unknown variable resource.name (known here: id)",
        "resource.name: step outputs are not available here (steps.first.outputs.message)",
        "resource.owner_input: owner_input names no field of the item: 'team'",
        "resource.cmdb.fields.a: inputs.name: only resource can be read here",
        "resource.cmdb.fields.b: unknown variable resource.outputs.nope: the item's "
        "provisioning declares no output 'nope' (fulfillment.automated.outputs: message)",
    ]
    wrong_type = _with_ops(owner_input="size")
    assert messages(load(tmp_path, wrong_type)) == [
        "resource.owner_input: owner_input 'size' is a integer field; a team name needs one "
        "of: string, select"
    ]


# --- forms --------------------------------------------------------------------------------


def test_the_item_form_lists_operations_and_says_decommissionable(tmp_path: Path) -> None:
    form = build_form(_item(tmp_path))
    assert form["decommissionable"] is True
    assert [(o["id"], o["changes"], o["mode"]) for o in form["operations"]] == [
        ("update", ["size"], "automated"),
        ("decommission", [], "manual"),
    ]
    plain = load(tmp_path, minimal()).item
    assert plain is not None
    assert build_form(plain)["decommissionable"] is False
    assert build_form(plain)["operations"] == []


def test_operation_form_is_prefilled_from_the_resource(tmp_path: Path) -> None:
    item = _item(tmp_path)
    form = operation_form(item, "update", {"name": "ledger", "size": 4})
    schema = form["schema"]
    assert form["operation"] == "update"
    assert schema["title"] == "Sample: Resize"
    assert schema["properties"]["size"]["default"] == 4  # the resource's current value
    assert "default" not in schema["properties"]["reason"]  # the operation's own field
    assert schema["propertyNames"] == {"enum": ["size", "reason"]}
    assert schema["required"] == ["reason"]
    assert operation_form(item, "decommission", {})["uiSchema"]["ui:submitButtonOptions"] == {
        "submitText": "Decommission"
    }
    with pytest.raises(OperationNotFound, match="no operation 'rename'"):
        operation_form(item, "rename", {})


def test_operation_inputs_are_validated_against_its_form(tmp_path: Path) -> None:
    item = _item(tmp_path)
    errors = validate_operation_inputs(
        item, "update", {"reason": "grow", "name": "x", "colour": "red"}, {"size": 4}
    )
    assert [e.as_dict() for e in errors] == [
        {"field": "colour", "message": "unknown field"},
        {"field": "name", "message": "unknown field"},
    ]
    too_big = validate_operation_inputs(item, "update", {"reason": "grow", "size": 10})
    assert [e.as_dict() for e in too_big] == [{"field": "size", "message": "must be at most 9"}]
    missing = validate_operation_inputs(item, "update", {})
    assert [e.as_dict() for e in missing] == [{"field": "reason", "message": "Why is required"}]
    assert validate_operation_inputs(item, "update", {"reason": "grow"}, {"size": 4}) == []
    assert operation_inputs(item, "update", {"reason": "grow"}, {"size": 4, "name": "x"}) == {
        "reason": "grow",
        "size": 4,
    }
    with pytest.raises(OperationNotFound):
        validate_operation_inputs(item, "rename", {})

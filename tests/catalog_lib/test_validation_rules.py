"""One test per validation rule: each error has file, line, path and a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pao_catalog_model.actions import ActionRegistry, ActionType, default_registry
from pao_catalog_model.errors import InvalidCatalogDocument
from pao_catalog_model.loader import load_directory

from tests.catalog_lib.support import field, load, manual, messages, minimal, write


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = doc["fulfillment"]["automated"]["steps"]
    return steps


def test_minimal_document_is_valid(tmp_path: Path) -> None:
    result = load(tmp_path, minimal())
    assert result.errors == [] and result.item is not None
    assert result.content_hash.startswith("sha256:")


def test_error_text_is_file_line_path_message(tmp_path: Path) -> None:
    text = write(tmp_path, minimal()).read_text()
    text = text.replace("{{ inputs.name }}", "{{ inputs.dbname }}")
    result = load(tmp_path, text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "inputs.dbname" in t)
    assert [str(e) for e in result.errors] == [
        f"{result.file}:{line} fulfillment.automated.steps[0].with.message: "
        "unknown variable inputs.dbname: no field 'dbname'"
    ]


def test_every_error_is_listed(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["action"] = "nope"
    _steps(doc)[1]["with"]["message"] = "{{ inputs.zzz }}"
    doc["presentation"]["fields"][0]["validation"] = {"pattern": "("}
    result = load(tmp_path, doc)
    assert len(result.errors) == 3
    assert all(e.line for e in result.errors)


# --- structure ---------------------------------------------------------------------------


def test_structure_unknown_key(tmp_path: Path) -> None:
    doc = minimal()
    doc["metadata"]["colour"] = "blue"
    assert messages(load(tmp_path, doc)) == [
        "metadata: Unknown keys are not allowed ('colour' was unexpected)"
    ]


def test_structure_missing_required(tmp_path: Path) -> None:
    doc = minimal()
    del doc["metadata"]["owner"]
    assert messages(load(tmp_path, doc)) == ["metadata: 'owner' is a required property"]


def test_structure_semver(tmp_path: Path) -> None:
    doc = minimal()
    doc["metadata"]["version"] = "1.0"
    assert messages(load(tmp_path, doc))[0].startswith("metadata.version: '1.0' does not match")


def test_structure_field_type_enum(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"][0]["type"] = "colour"
    assert "presentation.fields[0].type: 'colour' is not one of" in messages(load(tmp_path, doc))[0]


def test_structure_select_needs_options(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(field(type="select"))
    assert messages(load(tmp_path, doc)) and messages(load(tmp_path, doc))[0].startswith(
        "presentation.fields[2]"
    )


def test_structure_mode_manual_needs_manual(tmp_path: Path) -> None:
    doc = minimal()
    doc["fulfillment"]["mode"] = "manual"
    msgs = messages(load(tmp_path, doc))
    assert any("'manual' is a required property" in m for m in msgs)


def test_structure_lifecycle(tmp_path: Path) -> None:
    doc = minimal()
    doc["metadata"]["lifecycle"] = "zombie"
    assert "is not one of active, deprecated, retired" in messages(load(tmp_path, doc))[0]


# --- unique ids --------------------------------------------------------------------------


def test_unique_item_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, minimal(), "a.yaml")
    write(tmp_path, minimal(), "b.yaml")
    other = minimal()
    other["metadata"]["id"] = "other"
    write(tmp_path, other, "c.yaml")
    results = load_directory(tmp_path, registry=ActionRegistry())
    by_file = {Path(r.file).name: r for r in results}
    assert "duplicate item id 'sample'" in by_file["a.yaml"].errors[0].message
    assert "b.yaml" in by_file["a.yaml"].errors[0].message
    assert by_file["a.yaml"].item is None and by_file["b.yaml"].item is None
    assert by_file["c.yaml"].errors == [] and by_file["c.yaml"].item is not None


def test_unique_field_ids(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(field(id="name"))
    assert messages(load(tmp_path, doc)) == [
        "presentation.fields[2].id: duplicate field id 'name' (first at presentation.fields[0].id)"
    ]


def test_unique_field_ids_across_sections(tmp_path: Path) -> None:
    doc = minimal()
    fields = doc["presentation"].pop("fields")
    doc["presentation"]["sections"] = [
        {"id": "one", "title": "One", "fields": fields},
        {"id": "two", "title": "Two", "fields": [field(id="size")]},
    ]
    assert messages(load(tmp_path, doc)) == [
        "presentation.sections[1].fields[0].id: duplicate field id 'size' "
        "(first at presentation.sections[0].fields[1].id)"
    ]


def test_unique_step_ids(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[1]["id"] = "first"
    _steps(doc)[1]["with"]["message"] = "x"
    doc["fulfillment"]["automated"]["outputs"] = {}
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[1].id: duplicate step id 'first' "
        "(first at fulfillment.automated.steps[0].id)"
    ]


def test_unique_example_names(tmp_path: Path) -> None:
    doc = minimal()
    doc["examples"].append(doc["examples"][0])
    assert messages(load(tmp_path, doc))[0].startswith("examples[1].name: duplicate example name")


# --- action types ------------------------------------------------------------------------


def test_unknown_action_type(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["action"] = "acme.dns"
    msg = messages(load(tmp_path, doc))[0]
    assert msg.startswith("fulfillment.automated.steps[0].action: unknown action type 'acme.dns'")
    assert "PAO_EXTRA_ACTION_TYPES" in msg


def test_team_action_types_from_the_environment(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["action"] = "acme.dns"
    registry = default_registry({"PAO_EXTRA_ACTION_TYPES": "acme.dns, acme.vault:rollback"})
    assert load(tmp_path, doc, registry).errors == []
    assert registry.get("acme.vault").supports_rollback


def test_team_action_types_from_a_file(tmp_path: Path) -> None:
    actions = tmp_path / "actions-registry.yml"
    actions.write_text(
        "actions:\n  - type: acme.cert\n    supports_rollback: true\n"
        "    required_inputs: [common_name]\n"
    )
    registry = default_registry({"PAO_ACTION_TYPES_FILE": str(actions)})
    doc = minimal()
    _steps(doc)[0] = {"id": "first", "action": "acme.cert", "with": {"cn": "x"}}
    assert messages(load(tmp_path, doc, registry)) == [
        "fulfillment.automated.steps[0].with: action acme.cert needs input 'common_name'"
    ]


def test_declaring_a_builtin_again_fails() -> None:
    with pytest.raises(InvalidCatalogDocument, match="declared twice"):
        ActionRegistry().extended([ActionType("rest")])
    with pytest.raises(InvalidCatalogDocument, match="unknown flag"):
        default_registry({"PAO_EXTRA_ACTION_TYPES": "x.y:maybe"})


def test_action_required_inputs(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0] = {"id": "first", "action": "rest", "with": {"url": "https://x"}}
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[0].with: action rest needs input 'method'"
    ]


def test_closed_action_rejects_unknown_inputs(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["with"]["colour"] = "red"
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[0].with.colour: action debug.log has no input 'colour'"
    ]


# --- rollback ----------------------------------------------------------------------------


def test_rollback_with_an_action_that_cannot_compensate(tmp_path: Path) -> None:
    registry = ActionRegistry().extended([ActionType("acme.mail")])
    doc = minimal()
    _steps(doc)[0]["rollback"] = {"action": "acme.mail", "with": {}}
    assert messages(load(tmp_path, doc, registry)) == [
        "fulfillment.automated.steps[0].rollback: action acme.mail cannot compensate, "
        "so it cannot be a rollback"
    ]


def test_rollback_defaults_to_the_step_action_and_may_read_its_own_outputs(
    tmp_path: Path,
) -> None:
    doc = minimal()
    _steps(doc)[1]["rollback"] = {"with": {"message": "undo {{ steps.second.outputs.message }}"}}
    result = load(tmp_path, doc)
    assert result.errors == []
    assert result.item is not None and result.item.fulfillment.automated is not None
    rollback = result.item.fulfillment.automated.steps[1].rollback
    assert rollback is not None and rollback.action == "debug.log"


def test_rollback_required_inputs(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0] = {
        "id": "first",
        "action": "rest",
        "with": {"method": "POST", "url": "https://x"},
        "rollback": {"with": {"method": "DELETE"}},
    }
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[0].rollback.with: rollback action rest needs input 'url'"
    ]


def test_rollback_cannot_read_a_later_step(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["rollback"] = {"with": {"message": "{{ steps.second.outputs.x }}"}}
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[0].rollback.with.message: steps.second is not an earlier "
        "step, its outputs do not exist yet"
    ]


# --- regexes, rules, defaults ------------------------------------------------------------


def test_regex_must_compile(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"][0]["validation"] = {"pattern": "^[a-z"}
    msg = messages(load(tmp_path, doc))
    assert msg == [
        "presentation.fields[0].validation.pattern: pattern '^[a-z' refused: "
        "the linear-time engine (RE2) cannot compile it: missing ]: [a-z"
    ]


def test_rule_must_fit_the_field_type(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"][1]["validation"] = {"min_length": 2}
    assert messages(load(tmp_path, doc)) == [
        "presentation.fields[1].validation.min_length: rule min_length does not apply to a "
        "integer field"
    ]


def test_min_not_above_max(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"][1]["validation"] = {"minimum": 10, "maximum": 5}
    doc["presentation"]["fields"][1]["default"] = 7
    msgs = messages(load(tmp_path, doc))
    assert (
        "presentation.fields[1].validation.minimum: minimum 10.0 is greater than maximum 5.0"
        in msgs
    )


def test_message_for_a_rule_the_field_lacks(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"][0]["validation"] = {"messages": {"pattern": "letters"}}
    assert messages(load(tmp_path, doc)) == [
        "presentation.fields[0].validation.messages.pattern: message for rule pattern, which "
        "the field does not set"
    ]


def test_duplicate_options(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(field(type="select", options=["a", "b", "a"]))
    assert messages(load(tmp_path, doc))[0].startswith(
        "presentation.fields[2].options[2]: duplicate option 'a'"
    )


@pytest.mark.parametrize(
    ("extra", "default", "expected"),
    [
        ({"validation": {"pattern": "^[a-z]+$"}}, "ABC", "does not match"),
        ({"validation": {"max_length": 2}}, "abc", "too long"),
        ({"type": "integer", "validation": {"maximum": 3}}, 5, "maximum"),
        ({"type": "select", "options": ["a", "b"]}, "c", "is not valid under any"),
        ({"type": "email"}, "not-an-email", "is not a 'email'"),
        ({"type": "date"}, "2030-13-40", "is not a 'date'"),
        ({"type": "boolean"}, "yes", "expected boolean"),
    ],
)
def test_default_must_satisfy_its_own_rules(
    tmp_path: Path, extra: dict[str, Any], default: object, expected: str
) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(field(default=default, **extra))
    msgs = messages(load(tmp_path, doc))
    assert len(msgs) == 1 and msgs[0].startswith("presentation.fields[2].default: default ")
    assert expected in msgs[0], msgs


def test_condition_on_unknown_field(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(field(visible_if={"field": "nope", "equals": 1}))
    assert messages(load(tmp_path, doc)) == [
        "presentation.fields[2].visible_if: condition on unknown field 'nope'"
    ]


def test_condition_on_itself(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(field(required_if={"field": "f", "equals": "x"}))
    assert "cannot depend on the field itself" in messages(load(tmp_path, doc))[0]


def test_condition_structure(tmp_path: Path) -> None:
    doc = minimal()
    doc["presentation"]["fields"].append(field(visible_if={"field": "name"}))
    assert messages(load(tmp_path, doc))[0].startswith("presentation.fields[2].visible_if")


# --- templates and variables -------------------------------------------------------------


def test_template_must_parse(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["with"]["message"] = "{{ inputs.name "
    assert messages(load(tmp_path, doc))[0].startswith(
        "fulfillment.automated.steps[0].with.message: template syntax error"
    )


def test_when_must_parse(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["when"] = "inputs.size >"
    assert messages(load(tmp_path, doc))[0].startswith(
        "fulfillment.automated.steps[0].when: template syntax error"
    )


def test_when_variables_must_exist(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[1]["when"] = "inputs.colour == 'red' and steps.first.outputs.ok"
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[1].when: unknown variable inputs.colour: no field 'colour'"
    ]


def test_inputs_variable_must_be_a_field(tmp_path: Path) -> None:
    doc = minimal()
    doc["fulfillment"]["automated"]["outputs"] = {"x": "{{ inputs.dbname }}"}
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.outputs.x: unknown variable inputs.dbname: no field 'dbname'"
    ]


def test_step_outputs_must_come_from_an_earlier_step(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["with"]["message"] = "{{ steps.second.outputs.message }}"
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[0].with.message: steps.second is not an earlier step, "
        "its outputs do not exist yet"
    ]


def test_step_itself_is_not_earlier(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["with"]["message"] = "{{ steps.first.outputs.message }}"
    assert "steps.first is not an earlier step" in messages(load(tmp_path, doc))[0]


def test_unknown_step(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[1]["with"]["message"] = "{{ steps.nope.outputs.x }}"
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.steps[1].with.message: unknown variable steps.nope: no step 'nope'"
    ]


def test_steps_offer_only_outputs(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[1]["with"]["message"] = "{{ steps.first.inputs.x }}"
    assert "a step offers only .outputs" in messages(load(tmp_path, doc))[0]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ user.salary }}", "unknown variable user.salary"),
        ("{{ item.secret }}", "unknown variable item.secret"),
        ("{{ request.body }}", "unknown variable request.body"),
        ("{{ system.password }}", "unknown variable system.password"),
        ("{{ env.HOME }}", "unknown variable env"),
    ],
)
def test_other_roots_have_known_keys(tmp_path: Path, template: str, expected: str) -> None:
    doc = minimal()
    _steps(doc)[0]["with"]["message"] = template
    assert expected in messages(load(tmp_path, doc))[0]


def test_known_roots_are_accepted(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["with"]["message"] = (
        "{{ user.id }} {{ user.teams | join(',') }} {{ item.version }} {{ request.id }} "
        "{{ system.environment }} {{ now() }} {{ uuid() }} {{ secret('x') }}"
    )
    assert load(tmp_path, doc).errors == []


def test_manual_ticket_cannot_read_step_outputs(tmp_path: Path) -> None:
    doc = manual()
    doc["fulfillment"]["manual"]["jira"]["description"] = "{{ steps.first.outputs.x }}"
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.manual.jira.description: step outputs are not available here "
        "(steps.first.outputs.x)"
    ]


def test_manual_ticket_templates_are_checked(tmp_path: Path) -> None:
    doc = manual()
    doc["fulfillment"]["manual"]["jira"]["labels"] = ["ok", "{{ inputs.nope }}"]
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.manual.jira.labels[1]: unknown variable inputs.nope: no field 'nope'"
    ]


def test_template_that_fails_to_render_with_an_example(tmp_path: Path) -> None:
    doc = minimal()
    _steps(doc)[0]["with"]["message"] = "{{ inputs.size / 0 }}"
    msgs = messages(load(tmp_path, doc))
    assert msgs[0].startswith(
        "fulfillment.automated.steps[0].with.message: does not render with example 'basic'"
    )


# --- fulfillment and approval ------------------------------------------------------------


def test_fallback_needs_a_manual_ticket(tmp_path: Path) -> None:
    doc = minimal()
    doc["fulfillment"]["automated"]["fallback_to_manual"] = True
    assert messages(load(tmp_path, doc)) == [
        "fulfillment.automated.fallback_to_manual: fallback_to_manual needs "
        "fulfillment.manual.jira, the ticket to fall back to"
    ]


def test_manual_ticket_in_automated_item_needs_fallback(tmp_path: Path) -> None:
    doc = minimal()
    doc["fulfillment"]["manual"] = manual()["fulfillment"]["manual"]
    assert "used only with fallback_to_manual" in messages(load(tmp_path, doc))[0]
    doc["fulfillment"]["automated"]["fallback_to_manual"] = True
    assert load(tmp_path, doc).errors == []


def test_approval_needs_an_approver(tmp_path: Path) -> None:
    doc = minimal()
    doc["approval"] = {"required": True}
    assert messages(load(tmp_path, doc)) == [
        "approval.approvers: approval is required but no approver is named"
    ]


def test_approval_condition_is_checked(tmp_path: Path) -> None:
    doc = minimal()
    doc["approval"] = {
        "required": True,
        "when": "inputs.size > 3 and steps.first.outputs.x",
        "approvers": {"teams": ["dba"]},
    }
    assert messages(load(tmp_path, doc)) == [
        "approval.when: step outputs are not available here (steps.first.outputs.x)"
    ]


def test_approval_expiry_is_a_duration(tmp_path: Path) -> None:
    doc = minimal()
    doc["approval"] = {"required": True, "approvers": {"users": ["x"]}, "expires_after": "3 days"}
    assert messages(load(tmp_path, doc))[0].startswith("approval.expires_after: '3 days'")


# --- examples ----------------------------------------------------------------------------


def test_examples_are_required(tmp_path: Path) -> None:
    doc = minimal()
    doc["examples"] = []
    assert messages(load(tmp_path, doc)) == [
        ": at least one example (examples: [{name, user, inputs}]) is required"
    ]


def test_example_inputs_must_validate(tmp_path: Path) -> None:
    doc = minimal()
    doc["examples"][0]["inputs"] = {"size": "big", "extra": 1}
    assert messages(load(tmp_path, doc)) == [
        "examples[0].inputs.name: Name is required",
        "examples[0].inputs.size: must be a whole number",
        "examples[0].inputs.extra: unknown field",
    ]


def test_example_user_must_have_access(tmp_path: Path) -> None:
    doc = minimal()
    doc["access"] = {"teams": ["dba"]}
    assert messages(load(tmp_path, doc)) == [
        "examples[0].user: user 'alice' may not request this item (access: teams ['dba'], roles [])"
    ]

"""Form output per field type, and server validation with the very same schema."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft7Validator
from pao_catalog_model.forms import apply_defaults, build_form, validate_inputs
from pao_catalog_model.model import CatalogItem, parse_item

from tests.catalog_lib.support import field, minimal


def item_with(*fields: dict[str, Any], sections: bool = False) -> CatalogItem:
    doc = minimal()
    doc["fulfillment"]["automated"]["steps"][0]["with"]["message"] = "x"
    if sections:
        doc["presentation"] = {
            "layout": "pages",
            "sections": [
                {"id": "s1", "title": "First", "description": "d", "fields": list(fields)}
            ],
        }
    else:
        doc["presentation"] = {"fields": list(fields)}
    return parse_item(doc)


def prop(f: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    form = build_form(item_with(f))
    Draft7Validator.check_schema(form["schema"])
    return form["schema"]["properties"][f["id"]], form["uiSchema"][f["id"]]


def test_form_envelope() -> None:
    form = build_form(item_with(field(required=True)))
    assert set(form) == {
        "schema",
        "uiSchema",
        "version",
        "decommissionable",
        "operations",
        "change_class",
    }
    assert form["change_class"] == {"default": "standard", "rules": [], "possible": ["standard"]}
    assert form["version"] == "1.0.0"
    schema = form["schema"]
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["f"] and schema["propertyNames"] == {"enum": ["f"]}
    assert form["uiSchema"]["ui:order"] == ["f", "*"]


def test_string() -> None:
    schema, ui = prop(
        field(
            placeholder="abc",
            help="Some help",
            default="abc",
            validation={"min_length": 2, "max_length": 9, "pattern": "^[a-z]+$"},
        )
    )
    assert schema == {
        "type": "string",
        "title": "F",
        "description": "Some help",
        "default": "abc",
        "minLength": 2,
        "maxLength": 9,
        "pattern": "^[a-z]+$",
    }
    assert ui == {"ui:placeholder": "abc", "ui:help": "Some help"}


def test_text() -> None:
    schema, ui = prop(field(type="text"))
    assert schema["type"] == "string"
    assert ui["ui:widget"] == "textarea"


def test_integer_and_number() -> None:
    schema, _ = prop(field(type="integer", validation={"minimum": 1, "maximum": 10}))
    assert schema == {"type": "integer", "title": "F", "minimum": 1, "maximum": 10}
    schema, _ = prop(field(type="number", validation={"minimum": 0.5, "multiple_of": 0.5}))
    assert schema == {"type": "number", "title": "F", "minimum": 0.5, "multipleOf": 0.5}


def test_boolean() -> None:
    schema, ui = prop(field(type="boolean", default=True))
    assert schema == {"type": "boolean", "title": "F", "default": True}
    assert ui["ui:widget"] == "checkbox"


def test_select_with_labels() -> None:
    schema, ui = prop(
        field(type="select", options=[{"value": "s", "label": "Small"}, {"value": "l"}])
    )
    assert schema["type"] == "string"
    assert schema["oneOf"] == [{"const": "s", "title": "Small"}, {"const": "l", "title": "l"}]
    assert ui["ui:widget"] == "select"


def test_select_of_numbers() -> None:
    schema, _ = prop(field(type="select", options=[1, 2, 3]))
    assert schema["type"] == "integer"


def test_multiselect() -> None:
    schema, ui = prop(field(type="multiselect", options=["a", "b"], validation={"max_items": 1}))
    assert schema["type"] == "array" and schema["uniqueItems"] is True
    assert schema["items"]["oneOf"] == [{"const": "a", "title": "a"}, {"const": "b", "title": "b"}]
    assert schema["maxItems"] == 1
    assert ui["ui:widget"] == "checkboxes"


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [("email", "email"), ("url", "uri"), ("date", "date"), ("datetime", "date-time")],
)
def test_formats(kind: str, fmt: str) -> None:
    schema, _ = prop(field(type=kind))
    assert schema == {"type": "string", "format": fmt, "title": "F"}


def test_secret() -> None:
    schema, ui = prop(field(type="secret"))
    assert schema["writeOnly"] is True
    assert ui["ui:widget"] == "password"


def test_list_of_objects() -> None:
    schema, ui = prop(
        field(
            type="list",
            validation={"min_items": 1},
            fields=[
                {"id": "email", "type": "email", "label": "E-mail", "required": True},
                {"id": "role", "type": "select", "label": "Role", "options": ["a", "b"]},
            ],
        )
    )
    assert schema["type"] == "array" and schema["minItems"] == 1
    assert schema["items"]["required"] == ["email"]
    assert schema["items"]["properties"]["email"]["format"] == "email"
    assert schema["items"]["additionalProperties"] is False
    assert ui["items"]["ui:order"] == ["email", "role"]


def test_keyvalue() -> None:
    schema, ui = prop(field(type="keyvalue", validation={"pattern": "^[a-z]+$", "max_items": 3}))
    assert schema["type"] == "object"
    assert schema["additionalProperties"] == {"type": "string"}
    assert schema["propertyNames"] == {"pattern": "^[a-z]+$"}
    assert schema["maxProperties"] == 3
    assert ui["ui:options"] == {"addable": True}


def test_options_from_url() -> None:
    schema, ui = prop(
        field(type="select", options_from={"url": "https://x/teams", "value_key": "slug"})
    )
    assert schema == {"type": "string", "title": "F"}
    assert ui["ui:options"] == {
        "optionsUrl": "https://x/teams",
        "valueKey": "slug",
        "labelKey": "label",
    }
    assert "ui:widget" not in ui


def test_custom_messages_travel_in_the_schema() -> None:
    form = build_form(
        item_with(
            field(
                required=True,
                validation={
                    "pattern": "^a",
                    "messages": {"pattern": "start with a", "required": "!"},
                },
            )
        )
    )
    assert form["schema"]["properties"]["f"]["errorMessage"] == {"pattern": "start with a"}
    assert form["schema"]["errorMessage"] == {"required": {"f": "!"}}


def test_sections_and_pages_layout() -> None:
    form = build_form(item_with(field(), field(id="g"), sections=True))
    assert form["uiSchema"]["ui:layout"] == {
        "type": "pages",
        "sections": [{"id": "s1", "title": "First", "description": "d", "fields": ["f", "g"]}],
    }


# --- conditions --------------------------------------------------------------------------

CONDITIONAL = (
    field(id="env", type="select", options=["dev", "prod"], default="dev"),
    field(id="ticket", visible_if={"field": "env", "equals": "prod"}, required=True),
    field(id="note", required_if={"field": "env", "in": ["prod"]}),
)


def test_conditional_visibility_is_if_then() -> None:
    schema = build_form(item_with(*CONDITIONAL))["schema"]
    assert "ticket" not in schema["properties"]
    assert schema["allOf"][0] == {
        "if": {"properties": {"env": {"const": "prod"}}, "required": ["env"]},
        "then": {
            "properties": {"ticket": {"type": "string", "title": "F"}},
            "required": ["ticket"],
        },
        "else": {"not": {"required": ["ticket"]}},
    }
    assert schema["allOf"][1] == {
        "if": {"properties": {"env": {"enum": ["prod"]}}, "required": ["env"]},
        "then": {"required": ["note"]},
    }
    assert build_form(item_with(*CONDITIONAL))["uiSchema"]["ui:order"] == ["env", "*", "note"]


def test_conditional_validation() -> None:
    item = item_with(*CONDITIONAL)
    assert validate_inputs(item, {}) == []
    assert validate_inputs(item, {"env": "dev", "ticket": "T"})[0].as_dict() == {
        "field": "ticket",
        "message": "not expected: the field is hidden by its condition",
    }
    errors = validate_inputs(item, {"env": "prod"})
    assert [(e.field, e.message) for e in errors] == [
        ("ticket", "F is required"),
        ("note", "F is required"),
    ]
    assert validate_inputs(item, {"env": "prod", "ticket": "T", "note": "n"}) == []


@pytest.mark.parametrize(
    ("condition", "values", "visible"),
    [
        ({"field": "env", "not_equals": "prod"}, {"env": "dev"}, True),
        ({"field": "env", "not_equals": "prod"}, {"env": "prod"}, False),
        ({"field": "env", "not_in": ["prod"]}, {"env": "prod"}, False),
        ({"field": "tags", "contains": "x"}, {"tags": ["x"]}, True),
        ({"field": "tags", "contains": "x"}, {"tags": ["y"]}, False),
        (
            {"all": [{"field": "env", "equals": "prod"}, {"field": "tags", "contains": "x"}]},
            {"env": "prod", "tags": ["x"]},
            True,
        ),
        (
            {"any": [{"field": "env", "equals": "prod"}, {"field": "tags", "contains": "x"}]},
            {"env": "dev", "tags": []},
            False,
        ),
    ],
)
def test_condition_operators(
    condition: dict[str, Any], values: dict[str, Any], visible: bool
) -> None:
    item = item_with(
        field(id="env", type="select", options=["dev", "prod"]),
        field(id="tags", type="multiselect", options=["x", "y"]),
        field(id="extra", visible_if=condition, default="d"),
    )
    assert ("extra" in apply_defaults(item, values)) is visible
    assert validate_inputs(item, values | {"extra": "e"}) == (
        [] if visible else validate_inputs(item, values | {"extra": "e"})
    )
    if not visible:
        assert validate_inputs(item, values | {"extra": "e"})[0].field == "extra"


def test_apply_defaults_follows_conditions() -> None:
    item = item_with(
        field(id="env", type="select", options=["dev", "prod"], default="prod"),
        field(id="ha", type="boolean", default=True, visible_if={"field": "env", "equals": "prod"}),
        field(id="size", type="integer", default=3),
    )
    assert apply_defaults(item, {}) == {"env": "prod", "ha": True, "size": 3}
    assert apply_defaults(item, {"env": "dev"}) == {"env": "dev", "size": 3}
    assert apply_defaults(item, {"size": 9})["size"] == 9


# --- validation messages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "value", "message"),
    [
        (field(validation={"min_length": 3}), "ab", "must be at least 3 characters long"),
        (field(validation={"max_length": 3}), "abcd", "must be at most 3 characters long"),
        (field(validation={"pattern": "^[a-z]+$"}), "A", "must match the pattern ^[a-z]+$"),
        (field(type="integer", validation={"minimum": 2}), 1, "must be at least 2"),
        (field(type="integer", validation={"maximum": 2}), 3, "must be at most 2"),
        (field(type="integer"), 1.5, "must be a whole number"),
        (field(type="number", validation={"multiple_of": 0.5}), 0.3, "must be a multiple of 0.5"),
        (field(type="boolean"), "yes", "must be true or false"),
        (field(type="select", options=["a", "b"]), "c", "must be one of: a, b"),
        (
            field(type="multiselect", options=["a", "b"]),
            ["a", "a"],
            "each value may be chosen once",
        ),
        (
            field(type="multiselect", options=["a"], validation={"max_items": 0}),
            ["a"],
            "choose at most 0",
        ),
        (field(type="email"), "nobody", "must be a valid e-mail address"),
        (field(type="url"), "not a url", "must be a valid URL"),
        (field(type="url"), "https://ok.example.com/x", None),
        (field(type="date"), "2030-02-30", "must be a valid date (YYYY-MM-DD)"),
        (field(type="date"), "2030-02-28", None),
        (field(type="datetime"), "tomorrow", "must be a valid date and time (ISO 8601)"),
        (field(type="datetime"), "2030-01-01T10:00:00Z", None),
        (
            field(type="keyvalue", validation={"pattern": "^[a-z]+$"}),
            {"A": "x"},
            "keys must match the pattern ^[a-z]+$",
        ),
        (field(type="keyvalue"), {"a": 1}, "must be text"),
    ],
)
def test_rule_messages(f: dict[str, Any], value: object, message: str | None) -> None:
    errors = validate_inputs(item_with(f), {f["id"]: value})
    assert [e.message for e in errors] == ([message] if message else [])
    assert all(e.field.startswith("f") for e in errors)


def test_custom_messages() -> None:
    item = item_with(
        field(
            required=True,
            validation={
                "pattern": "^[a-z]+$",
                "max_length": 3,
                "messages": {
                    "pattern": "letters only",
                    "required": "we need F",
                    "max_length": "short!",
                },
            },
        )
    )
    assert [e.message for e in validate_inputs(item, {})] == ["we need F"]
    assert [e.message for e in validate_inputs(item, {"f": "A1"})] == ["letters only"]
    assert [e.message for e in validate_inputs(item, {"f": "abcd"})] == ["short!"]


def test_list_errors_name_the_row() -> None:
    item = item_with(
        field(
            id="members",
            type="list",
            fields=[{"id": "email", "type": "email", "label": "E-mail", "required": True}],
        )
    )
    errors = validate_inputs(item, {"members": [{"email": "a@b.c"}, {}, {"email": "x"}, {"z": 1}]})
    assert [e.as_dict() for e in errors] == [
        {"field": "members[1].email", "message": "E-mail is required"},
        {"field": "members[2].email", "message": "must be a valid e-mail address"},
        {"field": "members[3].email", "message": "E-mail is required"},
        {"field": "members[3].z", "message": "unknown field"},
    ]


def test_unknown_fields_and_non_objects() -> None:
    item = item_with(field())
    assert [e.as_dict() for e in validate_inputs(item, {"zz": 1})] == [
        {"field": "zz", "message": "unknown field"}
    ]
    assert validate_inputs(item, "nope")[0].message == "inputs must be an object"  # type: ignore[arg-type]

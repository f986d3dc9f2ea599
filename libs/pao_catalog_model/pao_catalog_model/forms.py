"""The request form of an item: JSON Schema draft-07 + a react-jsonschema-form uiSchema.

``build_form`` is the single source: the portal renders its ``schema`` and ``uiSchema``
with a stock form library, and ``validate_inputs`` checks a submission against that same
``schema`` (``Draft7Validator``, format checking on), so the two never disagree.

Draft-07, not 2020-12: it is the draft react-jsonschema-form's default validator
(``@rjsf/validator-ajv8``, a plain ``Ajv``) compiles; a 2020-12 ``$schema`` makes it fail
on every form. So only draft-07 keywords appear here (``if``/``then``/``else``,
``propertyNames``, ``const``, ``contains``; no ``unevaluatedProperties``, ``$defs`` or
``prefixItems``), which tests/portal/test_rjsf_forms.py checks with the stock validator.

Mapping of the catalog's field types::

    string, text*, secret*   {"type": "string"}        (* widget textarea / password)
    integer, number          {"type": "integer" | "number"}
    boolean                  {"type": "boolean"}
    email, url               string + format email / uri
    date, datetime           string + format date / date-time
    select                   oneOf [{const, title}]  (options_from: string + ui:options)
    multiselect              array of oneOf, uniqueItems
    list                     array of objects (the field's own ``fields``)
    keyvalue                 object of string values (``pattern`` checks the keys)

Conditional fields: a field with ``visible_if`` lives only in the ``then`` branch of an
``if`` in ``allOf``, so it shows only when its condition holds, and the ``else`` branch
(``not: {required: [field]}``) refuses it while hidden. The document closes with
``propertyNames: {enum: [every field]}``: draft-07's ``additionalProperties`` cannot see
properties declared in a ``then``. ``required_if`` adds ``required`` in such a branch.
Custom messages (``validation.messages``) are in each property's ``errorMessage`` (the
ajv-errors convention) and in the errors ``validate_inputs`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from pao_common.errors import UnsupportedPattern
from pao_common.patterns import linear_time_validator

from pao_catalog_model.errors import OperationNotFound
from pao_catalog_model.model import CatalogItem, Condition, FormField, Operation, Presentation

_RULE_KEYWORDS = {
    "min_length": "minLength",
    "max_length": "maxLength",
    "minimum": "minimum",
    "maximum": "maximum",
    "multiple_of": "multipleOf",
    "pattern": "pattern",
    "min_items": "minItems",
    "max_items": "maxItems",
    "format": "format",
    "type": "type",
    "options": "oneOf",
    "required": "required",
}
_KEYWORD_RULES = {keyword: rule for rule, keyword in _RULE_KEYWORDS.items()} | {
    "minProperties": "min_items",
    "maxProperties": "max_items",
    "propertyNames": "pattern",
    "enum": "options",
    "const": "options",
}
_FORMATS = {"email": "email", "url": "uri", "date": "date", "datetime": "date-time"}
FORM_DRAFT = "http://json-schema.org/draft-07/schema#"
HIDDEN_FIELD = "not expected: the field is hidden by its condition"


@dataclass(frozen=True)
class FieldError:
    """One problem with one submitted value; ``field`` is a path like ``members[0].email``."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


# --- building -----------------------------------------------------------------------------


def build_form(item: CatalogItem) -> dict[str, Any]:
    """``{"schema", "uiSchema", "version", "decommissionable", "operations"}`` for the
    item's request form; ``operations`` summarises its day-2 operations
    (``operations_summary``), and ``decommissionable`` is false without a ``decommission``."""
    return {
        "schema": build_schema(item),
        "uiSchema": build_ui_schema(item),
        "version": item.metadata.version,
        "decommissionable": item.decommissionable,
        "operations": operations_summary(item),
        "change_class": item.change_class.summary(),
    }


def build_schema(item: CatalogItem) -> dict[str, Any]:
    fields = item.presentation.all_fields()
    schema: dict[str, Any] = {
        "$schema": FORM_DRAFT,
        "title": item.metadata.name,
        "type": "object",
    }
    if item.metadata.description:
        schema["description"] = item.metadata.description
    properties: dict[str, Any] = {}
    required: list[str] = []
    conditionals: list[dict[str, Any]] = []
    required_messages: dict[str, str] = {}
    for f in fields:
        prop = field_schema(f)
        if "required" in f.validation.messages:
            required_messages[f.id] = f.validation.messages["required"]
        if f.visible_if is None:
            properties[f.id] = prop
            if f.required:
                required.append(f.id)
        else:
            then: dict[str, Any] = {"properties": {f.id: prop}}
            if f.required:
                then["required"] = [f.id]
            conditionals.append(
                {
                    "if": condition_schema(f.visible_if),
                    "then": then,
                    "else": {"not": {"required": [f.id]}},
                }
            )
        if f.required_if is not None:
            conditions = [c for c in (f.visible_if, f.required_if) if c is not None]
            condition = (
                condition_schema(conditions[0])
                if len(conditions) == 1
                else {"allOf": [condition_schema(c) for c in conditions]}
            )
            conditionals.append({"if": condition, "then": {"required": [f.id]}})
    schema["properties"] = properties
    if required:
        schema["required"] = required
    if conditionals:
        schema["allOf"] = conditionals
    if required_messages:
        schema["errorMessage"] = {"required": required_messages}
    schema["propertyNames"] = {"enum": [f.id for f in fields]}
    return schema


def _value_type(values: Iterable[Any]) -> str | None:
    kinds = {type(v) for v in values}
    if kinds == {str}:
        return "string"
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "integer"
    if kinds and kinds <= {int, float}:
        return "number"
    return None


def _options_schema(f: FormField) -> dict[str, Any]:
    if f.options_from is not None or not f.options:
        return {"type": "string"}
    schema: dict[str, Any] = {
        "oneOf": [
            {"const": o.value, "title": o.label if o.label is not None else str(o.value)}
            for o in f.options
        ]
    }
    if kind := _value_type(o.value for o in f.options):
        schema = {"type": kind, **schema}
    return schema


def field_schema(f: FormField) -> dict[str, Any]:
    """The JSON Schema of one field's value."""
    schema = _type_schema(f)
    schema["title"] = f.label
    if f.help:
        schema["description"] = f.help
    if f.has_default:
        schema["default"] = f.default
    if f.read_only:
        schema["readOnly"] = True
    schema.update(_rules_schema(f))
    return schema


def _type_schema(f: FormField) -> dict[str, Any]:
    """The schema of a value of the field's type (before its title, default and rules)."""
    match f.type:
        case "string" | "text":
            return {"type": "string"}
        case "secret":
            return {"type": "string", "writeOnly": True}
        case "email" | "url" | "date" | "datetime":
            return {"type": "string", "format": _FORMATS[f.type]}
        case "integer" | "number" | "boolean":
            return {"type": f.type}
        case "select":
            return _options_schema(f)
        case "multiselect":
            return {"type": "array", "items": _options_schema(f), "uniqueItems": True}
        case "list":
            columns = {c.id: field_schema(c) for c in f.fields}
            item_schema: dict[str, Any] = {
                "type": "object",
                "properties": columns,
                "additionalProperties": False,
            }
            if needed := [c.id for c in f.fields if c.required]:
                item_schema["required"] = needed
            return {"type": "array", "items": item_schema}
        case "keyvalue":
            return {"type": "object", "additionalProperties": {"type": "string"}}


def _rules_schema(f: FormField) -> dict[str, Any]:
    """The keywords of the field's ``validation`` rules and their messages."""
    rules = f.validation
    schema: dict[str, Any] = {}
    keyvalue = f.type == "keyvalue"
    for rule, keyword in (
        ("min_length", "minLength"),
        ("max_length", "maxLength"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("multiple_of", "multipleOf"),
        ("min_items", "minProperties" if keyvalue else "minItems"),
        ("max_items", "maxProperties" if keyvalue else "maxItems"),
    ):
        value = getattr(rules, rule)
        if value is not None:
            schema[keyword] = int(value) if float(value).is_integer() else value
    if rules.pattern is not None:
        if keyvalue:
            schema["propertyNames"] = {"pattern": rules.pattern}
        else:
            schema["pattern"] = rules.pattern
    messages = {_RULE_KEYWORDS[k]: v for k, v in rules.messages.items() if k != "required"}
    if messages:
        schema["errorMessage"] = messages
    return schema


def condition_schema(condition: Condition) -> dict[str, Any]:
    """A condition as the JSON Schema an ``if`` tests the whole form against."""
    if condition.all is not None:
        return {"allOf": [condition_schema(c) for c in condition.all]}
    if condition.any is not None:
        return {"anyOf": [condition_schema(c) for c in condition.any]}
    name = condition.field
    assert name is not None
    match condition.operator():
        case "equals":
            return {"properties": {name: {"const": condition.equals}}, "required": [name]}
        case "not_equals":
            return {
                "not": {"properties": {name: {"const": condition.not_equals}}, "required": [name]}
            }
        case "in":
            return {"properties": {name: {"enum": list(condition.in_ or ())}}, "required": [name]}
        case "not_in":
            return {
                "not": {
                    "properties": {name: {"enum": list(condition.not_in or ())}},
                    "required": [name],
                }
            }
        case _:
            return {
                "properties": {name: {"type": "array", "contains": {"const": condition.contains}}},
                "required": [name],
            }


_WIDGETS = {
    "text": "textarea",
    "secret": "password",
    "boolean": "checkbox",
    "multiselect": "checkboxes",
    "select": "select",
}


def field_ui(f: FormField) -> dict[str, Any]:
    ui: dict[str, Any] = {}
    widget = _WIDGETS.get(f.type)
    if widget and not (f.type == "select" and f.options_from is not None):
        ui["ui:widget"] = widget
    if f.placeholder:
        ui["ui:placeholder"] = f.placeholder
    if f.help:
        ui["ui:help"] = f.help
    if f.read_only:
        ui["ui:readonly"] = True
    if f.type == "text":
        ui["ui:options"] = {"rows": 5}
    if f.options_from is not None:
        ui["ui:options"] = {
            "optionsUrl": f.options_from.url,
            "valueKey": f.options_from.value_key,
            "labelKey": f.options_from.label_key,
        }
    if f.type == "list":
        ui["items"] = {c.id: field_ui(c) for c in f.fields}
        ui["items"]["ui:order"] = [c.id for c in f.fields]
        ui["ui:options"] = {"orderable": False}
    if f.type == "keyvalue":
        ui["ui:options"] = {"addable": True}
    return ui


def build_ui_schema(item: CatalogItem) -> dict[str, Any]:
    """The uiSchema: widgets, placeholders, help, order, and the sections / pages layout."""
    presentation = item.presentation
    fields = presentation.all_fields()
    ui: dict[str, Any] = {f.id: field_ui(f) for f in fields}
    order: list[str] = []
    for f in fields:
        if f.visible_if is None:
            order.append(f.id)
        elif "*" not in order:
            order.append("*")  # conditional fields exist only while shown
    if "*" not in order:
        order.append("*")
    ui["ui:order"] = order
    if presentation.sections:
        ui["ui:layout"] = {
            "type": "pages" if presentation.layout == "pages" else "sections",
            "sections": [
                {
                    "id": s.id,
                    "title": s.title,
                    **({"description": s.description} if s.description else {}),
                    "fields": [f.id for f in s.fields],
                }
                for s in presentation.sections
            ],
        }
    ui["ui:submitButtonOptions"] = {"submitText": "Request"}
    return ui


# --- validating ---------------------------------------------------------------------------

FORMAT_CHECKER = FormatChecker(("email", "date"))


@FORMAT_CHECKER.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc) and " " not in value


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        return False
    datetime.fromisoformat(value)
    return True


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return False
    date.fromisoformat(value)
    return True


#: ``pattern`` matched by RE2, in linear time: a catalog pattern such as ``^(a+)+$`` cannot
#: make a requester's input backtrack for seconds (pao_common.patterns).
FormValidator = linear_time_validator(Draft7Validator)


def form_validator(schema: Mapping[str, Any]) -> Draft7Validator:
    return FormValidator(schema, format_checker=FORMAT_CHECKER)


def validate_inputs(item: CatalogItem, inputs: Mapping[str, Any]) -> list[FieldError]:
    """Per-field errors of a submission (after defaults are applied); empty when valid."""
    if not isinstance(inputs, Mapping):
        return [FieldError("", "inputs must be an object")]
    schema = build_schema(item)
    return errors_for(item, schema, apply_defaults(item, inputs, schema=schema))


def errors_for(
    item: CatalogItem, schema: Mapping[str, Any], values: Mapping[str, Any]
) -> list[FieldError]:
    if not isinstance(values, Mapping):
        return [FieldError("", "inputs must be an object")]
    fields = {f.id: f for f in item.presentation.all_fields()}
    found: list[FieldError] = []
    for error in form_validator(schema).iter_errors(values):
        found.extend(_explain(error, fields, values))
    unique = {(e.field, e.message): e for e in found}
    return sorted(unique.values(), key=lambda e: (_order(e.field, fields), e.field))


def _order(path: str, fields: Mapping[str, FormField]) -> int:
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return list(fields).index(head) if head in fields else len(fields)


def _field_at(path: Iterable[str | int], fields: Mapping[str, FormField]) -> FormField | None:
    current: FormField | None = None
    scope = fields
    for part in path:
        if isinstance(part, int):
            continue
        current = scope.get(part)
        if current is None:
            return None
        scope = {c.id: c for c in current.fields}
    return current


def _path_text(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(
    error: ValidationError, fields: Mapping[str, FormField], values: Mapping[str, Any]
) -> list[FieldError]:
    path = list(error.absolute_path)
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        wanted: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        missing = [n for n in wanted if n not in instance]
        out = []
        for name in missing:
            target = [*path, name]
            f = _field_at(target, fields)
            message = (f.validation.messages.get("required") if f else None) or (
                f"{f.label if f else name} is required"
            )
            out.append(FieldError(_path_text(target), message))
        return out
    if error.validator == "not" and _hidden_field(error) is not None:
        return [FieldError(_path_text([*path, _hidden_field(error) or ""]), HIDDEN_FIELD)]
    if error.validator == "enum" and list(error.relative_schema_path) == ["propertyNames", "enum"]:
        # the document's closing ``propertyNames``: ``error.instance`` is the unknown name
        return [FieldError(_path_text([*path, str(error.instance)]), "unknown field")]
    if error.validator in ("unevaluatedProperties", "additionalProperties"):
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        names = [n for n in re.findall(r"'([^']*)'", error.message) if n in instance]
        out = []
        for name in names or ["?"]:
            target = [*path, name]
            known = _field_at(target, fields) is not None
            message = HIDDEN_FIELD if known else "unknown field"
            out.append(FieldError(_path_text(target), message))
        return out
    f = _field_at(path, fields)
    rule = _KEYWORD_RULES.get(str(error.validator))
    if f is not None and rule and rule in f.validation.messages:
        return [FieldError(_path_text(path), f.validation.messages[rule])]
    return [FieldError(_path_text(path), _default_message(error, f))]


def _hidden_field(error: ValidationError) -> str | None:
    """The field a conditional field's ``else: {not: {required: [field]}}`` refused."""
    refused = error.validator_value
    if isinstance(refused, Mapping) and set(refused) == {"required"}:
        names = refused["required"]
        if isinstance(names, list) and len(names) == 1:
            return str(names[0])
    return None


# The messages that say only the keyword's value.
_VALUE_MESSAGES = {
    "minLength": "must be at least {} characters long",
    "maxLength": "must be at most {} characters long",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "multipleOf": "must be a multiple of {}",
    "minItems": "choose at least {}",
    "minProperties": "choose at least {}",
    "maxItems": "choose at most {}",
    "maxProperties": "choose at most {}",
}


def _default_message(error: ValidationError, f: FormField | None) -> str:
    value = error.validator_value
    if (template := _VALUE_MESSAGES.get(str(error.validator))) is not None:
        return template.format(value)
    match error.validator:
        case "type":
            return f"must be {_article(str(value))}"
        case "pattern" if isinstance(error.cause, UnsupportedPattern):
            return f"cannot be checked: the item's pattern is refused ({error.cause.reason})"
        case "pattern" if f is not None and f.type == "keyvalue":
            return f"keys must match the pattern {value}"
        case "pattern":
            return f"must match the pattern {value}"
        case "propertyNames":
            return "keys must match the pattern " + str(f.validation.pattern if f else value)
        case "uniqueItems":
            return "each value may be chosen once"
        case "format":
            return f"must be a valid {_FORMAT_NAMES.get(str(value), str(value))}"
        case "oneOf" | "enum" | "const":
            choices = [str(o.value) for o in f.options] if f and f.options else []
            return "must be one of: " + ", ".join(choices) if choices else "not an allowed value"
    return error.message


_FORMAT_NAMES = {
    "uri": "URL",
    "email": "e-mail address",
    "date": "date (YYYY-MM-DD)",
    "date-time": "date and time (ISO 8601)",
}


def _article(kind: str) -> str:
    return {
        "integer": "a whole number",
        "number": "a number",
        "string": "text",
        "boolean": "true or false",
        "array": "a list",
        "object": "an object",
    }.get(kind, kind)


# --- defaults -----------------------------------------------------------------------------


def apply_defaults(
    item: CatalogItem, inputs: Mapping[str, Any], *, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``inputs`` plus the default of every missing field that is visible.

    Visibility is decided with the form's own condition schemas, after earlier defaults
    are in (a default can make a later field visible).
    """
    values = dict(inputs) if isinstance(inputs, Mapping) else {}
    for f in item.presentation.all_fields():
        if f.id in values:
            if f.type == "list" and isinstance(values[f.id], list):
                values[f.id] = [_row_defaults(f, row) for row in values[f.id]]
            continue
        if f.has_default and (f.visible_if is None or condition_holds(f.visible_if, values)):
            values[f.id] = f.default
    return values


def _row_defaults(f: FormField, row: Any) -> Any:
    if not isinstance(row, Mapping):
        return row
    filled = dict(row)
    for column in f.fields:
        if column.id not in filled and column.has_default:
            filled[column.id] = column.default
    return filled


def condition_holds(condition: Condition, values: Mapping[str, Any]) -> bool:
    """Whether ``values`` satisfy a field condition (the same test the form's ``if`` does)."""
    return bool(form_validator(condition_schema(condition)).is_valid(values))


# --- day-2 operations ---------------------------------------------------------------------


def operations_summary(item: CatalogItem) -> list[dict[str, Any]]:
    """Each operation as the item's API lists it: ``id``, ``title``, ``description``,
    ``fields`` (what its form asks), ``changes`` (the item fields it sets on the resource),
    ``mode``, ``approval_required`` and ``access`` (None: the item's)."""
    item_fields = {f.id for f in item.presentation.all_fields()}
    out = []
    for op in item.operations:
        fields = [f.id for f in op.presentation.all_fields()]
        out.append(
            {
                "id": op.id,
                "title": op.title,
                "description": op.description,
                "fields": fields,
                "changes": [name for name in fields if name in item_fields],
                "mode": op.fulfillment.mode,
                "approval_required": op.approval.required,
                "change_class": op.change_class.summary(),
                "access": op.access.model_dump(mode="json") if op.access is not None else None,
            }
        )
    return out


def find_operation(item: CatalogItem, operation_id: str) -> Operation:
    """The item's operation ``operation_id``; ``OperationNotFound`` when it declares none."""
    operation = item.operation(operation_id)
    if operation is None:
        raise OperationNotFound(item.id, operation_id, [o.id for o in item.operations])
    return operation


def operation_item(
    item: CatalogItem, operation_id: str, resource_inputs: Mapping[str, Any] | None = None
) -> CatalogItem:
    """The item as its operation's form sees it: the operation's fields (a field sharing an
    id with an item field has the resource's current value as its default), title and
    description. Every form function of this module works on it."""
    operation = find_operation(item, operation_id)
    current = dict(resource_inputs or {})
    item_fields = {f.id for f in item.presentation.all_fields()}

    def prefilled(f: FormField) -> FormField:
        if f.id in item_fields and f.id in current:
            return f.model_copy(update={"default": current[f.id]})
        return f

    presentation = operation.presentation
    presentation = Presentation(
        layout=presentation.layout,
        fields=tuple(prefilled(f) for f in presentation.fields),
        sections=tuple(
            s.model_copy(update={"fields": tuple(prefilled(f) for f in s.fields)})
            for s in presentation.sections
        ),
    )
    metadata = item.metadata.model_copy(
        update={
            "name": f"{item.metadata.name}: {operation.title}",
            "description": operation.description,
        }
    )
    return item.model_copy(update={"metadata": metadata, "presentation": presentation})


def operation_form(
    item: CatalogItem, operation_id: str, resource_inputs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{"schema", "uiSchema", "version", "operation", "title"}``: the form of one of the
    item's operations, its fields pre-filled (``default``) from ``resource_inputs`` where
    they share an id with the item's fields. ``OperationNotFound`` for an undeclared id."""
    view = operation_item(item, operation_id, resource_inputs)
    operation = find_operation(item, operation_id)
    ui = build_ui_schema(view)
    submit = "Decommission" if operation.id == "decommission" else operation.title
    ui["ui:submitButtonOptions"] = {"submitText": submit}
    return {
        "schema": build_schema(view),
        "uiSchema": ui,
        "version": item.metadata.version,
        "operation": operation.id,
        "title": operation.title,
        "change_class": operation.change_class.summary(),
    }


def operation_inputs(
    item: CatalogItem,
    operation_id: str,
    inputs: Mapping[str, Any],
    resource_inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``inputs`` with the operation's defaults: the resource's current values for shared
    fields, else the fields' own defaults (what the operation's templates see as inputs)."""
    return apply_defaults(operation_item(item, operation_id, resource_inputs), inputs)


def validate_operation_inputs(
    item: CatalogItem,
    operation_id: str,
    inputs: Mapping[str, Any],
    resource_inputs: Mapping[str, Any] | None = None,
) -> list[FieldError]:
    """Per-field errors of an operation's submission, as ``validate_inputs`` for the item;
    a field the operation does not ask for is ``FieldError(name, "unknown field")``.
    ``OperationNotFound`` for an undeclared id."""
    return validate_inputs(operation_item(item, operation_id, resource_inputs), inputs)

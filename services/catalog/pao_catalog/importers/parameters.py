"""Backstage template parameters (JSON Schema + react-jsonschema-form uiSchema) as PAO fields.

Every parameter page becomes a section and every property a field: the JSON type, title,
description, default, enum/enumNames, pattern, length and range limits, array-of-enum
(multiselect), arrays of objects (list), ``ui:widget`` and ``ui:help`` carry over; a
page's ``required`` makes fields required. Conditionals become ``visible_if`` /
``required_if`` where Schema v2.0 can say the same: ``dependencies`` with ``oneOf``
branches keyed on an enum or const, and ``if``/``then``/``else`` (alone or in ``allOf``)
comparing properties with ``const``/``enum``. Anything else (custom field extensions
such as ``OwnerPicker``, ``ui:options``, conditions on mere presence) keeps its field
where there is one and is reported as not converted, with its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pao_common.patterns import pattern_problem

from pao_catalog.importers.expressions import FieldRef
from pao_catalog.importers.report import Finding, ImportRefused, Path_, mapping

MAX_PARAMETERS = 1000

PICKERS = {
    "OwnerPicker": "picks an owner from Backstage's catalog",
    "EntityPicker": "picks an entity from Backstage's catalog",
    "MultiEntityPicker": "picks entities from Backstage's catalog",
    "OwnedEntityPicker": "picks one of the user's entities from Backstage's catalog",
    "EntityNamePicker": "checks a name with Backstage's entity-name rules",
    "EntityTagsPicker": "suggests tags from Backstage's catalog",
    "RepoUrlPicker": "builds a host?owner=&repo= URL from Backstage's SCM integrations",
    "MyGroupsPicker": "lists the user's groups from Backstage's catalog",
    "RepoBranchPicker": "lists branches through Backstage's SCM integrations",
    "Secret": "keeps the value in Backstage's secrets",
}
_FORMATS = {"email": "email", "uri": "url", "url": "url", "date": "date", "date-time": "datetime"}
_WIDGETS = {"textarea": "text", "password": "secret"}
_HARMLESS_WIDGETS = {"select", "radio", "checkbox", "checkboxes", "updown", "text"}
_FIELD_KEYS = {
    "type",
    "title",
    "description",
    "default",
    "enum",
    "enumNames",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "format",
    "const",
    "readOnly",
    "ui:widget",
    "ui:help",
    "ui:placeholder",
    "ui:readonly",
    "ui:field",
    "ui:options",
    "properties",
    "additionalProperties",
    "required",
}
_PAGE_KEYS = {
    "title",
    "description",
    "required",
    "properties",
    "dependencies",
    "allOf",
    "if",
    "then",
    "else",
    "type",
    "ui:order",
}


def field_id(name: str) -> str:
    """``repoUrl`` -> ``repo_url``, ``component-id`` -> ``component_id``: a PAO identifier."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    snake = re.sub(r"[^a-z0-9_]+", "_", snake).strip("_")
    if not snake or not snake[0].isalpha():
        snake = "f_" + snake
    return snake[:63].rstrip("_") or "field"


def humanize(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", name).replace("_", " ").replace("-", " ")
    return words.strip().capitalize() or name


@dataclass
class Converter:
    """Converts one template's ``spec.parameters``; findings go to ``converted`` / ``left``."""

    line_of: Callable[[Path_], int | None]
    converted: list[Finding] = field(default_factory=list)
    left: list[Finding] = field(default_factory=list)
    fields: dict[str, FieldRef] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set)
    _by_name: dict[str, dict[str, Any]] = field(default_factory=dict)
    _section_ids: list[str] = field(default_factory=list)
    _require_later: list[tuple[str, Path_]] = field(default_factory=list)

    # --- reporting -----------------------------------------------------------------------

    def done(self, path: Path_, text: str) -> None:
        self.converted.append(Finding(self.line_of(path), _shown(path), text))

    def lost(self, path: Path_, text: str, target: Path_ | None = None) -> None:
        self.left.append(Finding(self.line_of(path), _shown(path), text, target))

    # --- pages ---------------------------------------------------------------------------

    def sections(self, parameters: Any, base: Path_) -> list[dict[str, Any]]:
        pages = parameters if isinstance(parameters, list) else [parameters]
        if not isinstance(parameters, list | Mapping):
            self.lost(base, "parameters must be a page or a list of pages")
            return []
        total = sum(_count(p) for p in pages)
        if total > MAX_PARAMETERS:
            raise ImportRefused(
                f"{total} parameters, more than the {MAX_PARAMETERS} a form can sensibly have",
                self.line_of(base),
            )
        sections: list[dict[str, Any]] = []
        for index, page in enumerate(pages):
            path = (*base, index) if isinstance(parameters, list) else base
            if not isinstance(page, Mapping):
                self.lost(path, "a parameter page must be a mapping")
                continue
            sections.append(self._page(page, path, len(sections)))
        for name, out in self._by_name.items():
            # Known only now: a field a condition hides is absent from some requests.
            always = (bool(out.get("required")) or "default" in out) and "visible_if" not in out
            self.fields[name] = FieldRef(out["id"], out["type"], always)
        return sections

    def _page(self, page: Mapping[str, Any], path: Path_, number: int) -> dict[str, Any]:
        title = str(page.get("title") or f"Page {number + 1}")
        section_id = field_id(title)
        while any(section_id == s for s in self._section_ids):
            section_id += "_2"
        self._section_ids.append(section_id)
        target: Path_ = ("presentation", "sections", number)
        section: dict[str, Any] = {"id": section_id, "title": title}
        if page.get("description"):
            section["description"] = str(page["description"])
        for key in page:
            if key not in _PAGE_KEYS:
                self.lost((*path, key), f"page keyword {key!r} is not converted", target)
        required = _names(page.get("required"))
        fields: list[dict[str, Any]] = []
        properties = page.get("properties") or {}
        if not isinstance(properties, Mapping):
            self.lost((*path, "properties"), "properties must be a mapping", target)
            properties = {}
        for name in _ordered(list(properties), page.get("ui:order")):
            converted = self.convert_field(
                str(name),
                properties[name],
                (*path, "properties", name),
                name in required,
                (*target, "fields", len(fields)),
            )
            if converted is not None:
                fields.append(converted)
        for name in required:
            if name not in properties:
                self._require_later.append((name, (*path, "required")))
        self.done(path, f"page -> section {section_id} ({len(fields)} field(s))")
        section["fields"] = fields
        self._conditionals(page, path, fields, target)
        for name, where in self._require_later:
            existing = self._by_name.get(name)
            if existing is not None:
                existing["required"] = True
            else:
                self.lost(where, f"{name} is required but not a property of the page", target)
        self._require_later.clear()
        if not fields:
            # A section needs a field; an empty page (a review text) says so in the report.
            self.lost(path, "a page without properties: PAO has no empty sections", target)
        return section

    # --- fields --------------------------------------------------------------------------

    def convert_field(
        self, name: str, schema: Any, path: Path_, required: bool, target: Path_
    ) -> dict[str, Any] | None:
        if not isinstance(schema, Mapping):
            self.lost(path, "a property must be a mapping (JSON Schema)")
            return None
        if name in self._by_name:
            self.lost(path, f"{name} is defined twice; the first definition is kept", target)
            return None
        pid = field_id(name)
        while pid in self._ids:
            pid = (pid + "_2")[:63]
        self._ids.add(pid)
        out: dict[str, Any] = {
            "id": pid,
            "type": "string",
            "label": str(schema.get("title") or humanize(name)),
        }
        kind = self._type(schema, path, out, target)
        out["type"] = kind
        help_parts = [str(schema[k]) for k in ("description", "ui:help") if schema.get(k)]
        if help_parts:
            out["help"] = " ".join(help_parts)
        if schema.get("ui:placeholder"):
            out["placeholder"] = str(schema["ui:placeholder"])
        if required:
            out["required"] = True
        if schema.get("readOnly") or schema.get("ui:readonly"):
            out["read_only"] = True
        if "const" in schema:
            out["default"], out["read_only"] = schema["const"], True
        elif "default" in schema:
            out["default"] = schema["default"]
        self._ui(schema, path, target)
        for key in schema:
            if key not in _FIELD_KEYS and not str(key).startswith("ui:"):
                self.lost((*path, key), f"JSON Schema keyword {key!r} is not converted", target)
        self.fields[name] = FieldRef(pid, kind, required or "default" in out)
        self._by_name[name] = out
        renamed = f" (id {pid})" if pid != name else ""
        self.done(path, f"parameter {name} -> field{renamed}, {kind}")
        return out

    def _type(
        self, schema: Mapping[str, Any], path: Path_, out: dict[str, Any], target: Path_
    ) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            plain = [k for k in kind if k != "null"]
            self.lost(
                (*path, "type"),
                f"type {kind}: a field has one type, {plain[0] if plain else 'string'} kept",
                target,
            )
            kind = plain[0] if plain else "string"
        rules: dict[str, Any] = {}
        if "enum" in schema:
            out["options"] = self._options(schema["enum"], schema.get("enumNames"), path, target)
            result = "select"
        elif kind in (None, "string"):
            result = self._string_type(schema, kind, path, rules, target)
        elif kind in ("integer", "number"):
            result = self._number_type(schema, kind, path, rules, target)
        elif kind == "boolean":
            result = "boolean"
        elif kind == "array":
            result = self._array(schema, path, out, rules, target)
        elif kind == "object":
            result = "keyvalue"
            if schema.get("properties"):
                names = ", ".join(map(str, schema["properties"]))
                self.lost(
                    path,
                    f"an object with properties ({names}): kept as key/value pairs, "
                    "its properties are not separate fields",
                    target,
                )
        else:
            self.lost((*path, "type"), f"type {kind!r} is not a JSON Schema type PAO has", target)
            result = "string"
        if rules:
            out["validation"] = rules
        return result

    def _string_type(
        self,
        schema: Mapping[str, Any],
        kind: str | None,
        path: Path_,
        rules: dict[str, Any],
        target: Path_,
    ) -> str:
        """The field type of a string (by its format or widget); its rules into ``rules``."""
        result = "string"
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS:
            result = _FORMATS[fmt]
        elif fmt is not None:
            self.lost(
                (*path, "format"), f"format {schema['format']!r} has no PAO field type", target
            )
        widget = schema.get("ui:widget")
        if isinstance(widget, str) and widget in _WIDGETS and result == "string":
            result = _WIDGETS[widget]
        self._rule(schema, "minLength", "min_length", rules)
        self._rule(schema, "maxLength", "max_length", rules)
        if "pattern" in schema:
            problem = pattern_problem(str(schema["pattern"]))
            if problem:
                self.lost((*path, "pattern"), f"pattern not converted: {problem}", target)
            else:
                rules["pattern"] = str(schema["pattern"])
        if kind is None and "const" not in schema:
            self.lost(path, "no type: converted as a string", target)
        return result

    def _number_type(
        self,
        schema: Mapping[str, Any],
        kind: str,
        path: Path_,
        rules: dict[str, Any],
        target: Path_,
    ) -> str:
        """``kind`` (integer or number); its limits into ``rules`` (exclusive ones of an
        integer as the inclusive ones next to them)."""
        for source, rule in (
            ("minimum", "minimum"),
            ("maximum", "maximum"),
            ("multipleOf", "multiple_of"),
        ):
            self._rule(schema, source, rule, rules)
        for source, rule, step in (
            ("exclusiveMinimum", "minimum", 1),
            ("exclusiveMaximum", "maximum", -1),
        ):
            if source not in schema:
                continue
            if kind == "integer" and isinstance(schema[source], int | float):
                rules[rule] = schema[source] + step
            else:
                self.lost(
                    (*path, source), f"{source} on a number: PAO's limits are inclusive", target
                )
        return kind

    def _array(
        self,
        schema: Mapping[str, Any],
        path: Path_,
        out: dict[str, Any],
        rules: dict[str, Any],
        target: Path_,
    ) -> str:
        items = mapping(schema.get("items"))
        self._rule(schema, "minItems", "min_items", rules)
        self._rule(schema, "maxItems", "max_items", rules)
        if "enum" in items:
            out["options"] = self._options(items["enum"], items.get("enumNames"), path, target)
            return "multiselect"
        if items.get("type") == "object" and isinstance(items.get("properties"), Mapping):
            required = _names(items.get("required"))
            columns = []
            for name, column in items["properties"].items():
                column_path = (*path, "items", "properties", name)
                if isinstance(column, Mapping) and column.get("type") in ("array", "object"):
                    self.lost(
                        column_path,
                        "a nested list or object in a list's row is not converted",
                        target,
                    )
                    continue
                converted = Converter(self.line_of)
                col = converted.convert_field(
                    str(name), column, column_path, name in required, target
                )
                self.left += converted.left
                if col is not None:
                    columns.append(col)
            out["fields"] = columns
            return "list"
        self.lost(
            path,
            "an array of plain values: PAO lists hold rows; converted to a list of "
            "rows with one column 'value'",
            target,
        )
        column_type = {"integer": "integer", "number": "number", "boolean": "boolean"}.get(
            str(items.get("type")), "string"
        )
        out["fields"] = [{"id": "value", "type": column_type, "label": "Value"}]
        if "default" in schema and isinstance(schema["default"], list):
            out["default"] = [{"value": v} for v in schema["default"]]
            schema = {k: v for k, v in schema.items() if k != "default"}
        return "list"

    def _options(self, values: Any, names: Any, path: Path_, target: Path_) -> list[Any]:
        """``enum`` (+ ``enumNames``) as options; values that are not scalars are reported."""
        if not isinstance(values, list):
            self.lost(path, "enum must be a list of values", target)
            return ["unknown"]
        labels = names if isinstance(names, list) and len(names) == len(values) else None
        if names is not None and labels is None:
            self.lost(
                path, "enumNames does not name every enum value: labels not converted", target
            )
        options: list[Any] = []
        for index, value in enumerate(values):
            if not isinstance(value, _SCALARS) or value in [
                o["value"] if isinstance(o, dict) else o for o in options
            ]:
                self.lost(path, f"enum value {value!r}: not a distinct scalar, left out", target)
            elif labels is not None:
                options.append({"value": value, "label": str(labels[index])})
            else:
                options.append(value)
        if not options:
            self.lost(path, "enum has no usable value: one option 'unknown' stands in", target)
        return options or ["unknown"]

    def _rule(
        self, schema: Mapping[str, Any], source: str, rule: str, rules: dict[str, Any]
    ) -> None:
        if (
            source in schema
            and isinstance(schema[source], int | float)
            and not isinstance(schema[source], bool)
        ):
            rules[rule] = schema[source]

    def _ui(self, schema: Mapping[str, Any], path: Path_, target: Path_) -> None:
        picker = schema.get("ui:field")
        if picker is not None:
            why = PICKERS.get(str(picker), "a custom field extension of Backstage's frontend")
            self.lost(
                (*path, "ui:field"),
                f"ui:field {picker} ({why}): kept as a plain {schema.get('type', 'string')} field",
                target,
            )
        widget = schema.get("ui:widget")
        if widget is not None and not isinstance(widget, str):
            self.lost((*path, "ui:widget"), "ui:widget must be a widget name", target)
        elif widget is not None and widget not in _WIDGETS and widget not in _HARMLESS_WIDGETS:
            self.lost((*path, "ui:widget"), f"ui:widget {widget} has no PAO counterpart", target)
        if "ui:options" in schema:
            self.lost(
                (*path, "ui:options"), "ui:options (widget settings) are not converted", target
            )
        for key in schema:
            if str(key).startswith("ui:") and key not in (
                "ui:widget",
                "ui:help",
                "ui:placeholder",
                "ui:readonly",
                "ui:field",
                "ui:options",
            ):
                self.lost((*path, key), f"{key} is not converted", target)

    # --- conditionals --------------------------------------------------------------------

    def _conditionals(
        self, page: Mapping[str, Any], path: Path_, fields: list[dict[str, Any]], target: Path_
    ) -> None:
        dependencies = page.get("dependencies")
        if isinstance(dependencies, Mapping):
            for name, dependency in dependencies.items():
                self._dependency(
                    str(name), dependency, (*path, "dependencies", name), fields, target
                )
        rules = [page] if "if" in page else []
        all_of = page.get("allOf")
        if isinstance(all_of, list):
            rules += [r for r in all_of if isinstance(r, Mapping) and "if" in r]
            for index, rule in enumerate(all_of):
                if not (isinstance(rule, Mapping) and "if" in rule):
                    self.lost(
                        (*path, "allOf", index),
                        "only if/then/else rules of allOf are converted",
                        target,
                    )
        for rule in rules:
            where = path if rule is page else (*path, "allOf", all_of.index(rule))  # type: ignore[union-attr]
            self._if_then(rule, where, fields, target)

    def _dependency(
        self, name: str, dependency: Any, path: Path_, fields: list[dict[str, Any]], target: Path_
    ) -> None:
        control = self._by_name.get(name)
        if control is None:
            self.lost(path, f"depends on {name}, which is not a field of this page", target)
            return
        if isinstance(dependency, Mapping) and isinstance(dependency.get("oneOf"), list):
            for index, branch in enumerate(dependency["oneOf"]):
                branch_path = (*path, "oneOf", index)
                values = _branch_values(branch, name)
                if values is None:
                    self.lost(
                        branch_path,
                        f"a oneOf branch that does not fix {name} with enum or const",
                        target,
                    )
                    continue
                condition = _condition(control["id"], values)
                self._branch(branch, branch_path, condition, fields, target, skip=name)
            return
        if isinstance(dependency, list):
            self.lost(
                path,
                f"required when {name} is present: PAO conditions compare values, not presence",
                target,
            )
            return
        if isinstance(dependency, Mapping):
            self.lost(
                path,
                f"shown when {name} is present: PAO conditions compare values, not "
                "presence; its properties are kept as plain fields",
                target,
            )
            self._branch(dependency, path, None, fields, target, skip=name)

    def _if_then(
        self, rule: Mapping[str, Any], path: Path_, fields: list[dict[str, Any]], target: Path_
    ) -> None:
        test = rule.get("if")
        props = test.get("properties") if isinstance(test, Mapping) else None
        leaves: list[dict[str, Any]] = []
        if isinstance(props, Mapping):
            for name, check in props.items():
                control = self._by_name.get(str(name))
                values = _values(check)
                if control is None or values is None:
                    leaves = []
                    break
                leaves.append(_condition(control["id"], values))
        if not leaves:
            self.lost(
                (*path, "if"), "an if that is not properties compared with const or enum", target
            )
            for branch in ("then", "else"):
                if isinstance(rule.get(branch), Mapping):
                    self._branch(rule[branch], (*path, branch), None, fields, target)
            return
        condition = leaves[0] if len(leaves) == 1 else {"all": leaves}
        if isinstance(rule.get("then"), Mapping):
            self._branch(rule["then"], (*path, "then"), condition, fields, target)
        if isinstance(rule.get("else"), Mapping):
            if len(leaves) == 1:
                self._branch(rule["else"], (*path, "else"), _negate(leaves[0]), fields, target)
            else:
                self.lost(
                    (*path, "else"), "an else of several conditions: PAO has no 'not any'", target
                )
                self._branch(rule["else"], (*path, "else"), None, fields, target)

    def _branch(
        self,
        branch: Any,
        path: Path_,
        condition: dict[str, Any] | None,
        fields: list[dict[str, Any]],
        target: Path_,
        skip: str = "",
    ) -> None:
        if not isinstance(branch, Mapping):
            self.lost(path, "a conditional branch must be a mapping", target)
            return
        required = _names(branch.get("required"))
        properties = mapping(branch.get("properties"))
        for name, schema in properties.items():
            if name == skip:
                continue
            existing = self._by_name.get(str(name))
            if existing is None:
                converted = self.convert_field(
                    str(name),
                    schema,
                    (*path, "properties", name),
                    False,
                    (*target, "fields", len(fields)),
                )
                if converted is None:
                    continue
                fields.append(converted)
                existing = converted
                if condition is not None:
                    existing["visible_if"] = condition
            elif condition is not None and "visible_if" in existing:
                existing["visible_if"] = _merge(existing["visible_if"], condition)
            if condition is not None:
                self.done((*path, "properties", name), f"shown when {_describe(condition)}")
        for name in required:
            existing = self._by_name.get(name)
            if existing is None:
                self.lost((*path, "required"), f"{name} is required but not a field", target)
            elif condition is None:
                existing["required"] = True
            elif not existing.get("required"):
                existing["required_if"] = (
                    _merge(existing["required_if"], condition)
                    if "required_if" in existing
                    else condition
                )
                self.done((*path, "required"), f"{name} required when {_describe(condition)}")


def _count(page: Any) -> int:
    """Properties of a page, its conditional branches included (for the size limit)."""
    if not isinstance(page, Mapping):
        return 0
    total = len(page.get("properties") or {}) if isinstance(page.get("properties"), Mapping) else 0
    for key in ("then", "else"):
        total += _count(page.get(key))
    for key in ("allOf", "oneOf", "anyOf"):
        if isinstance(page.get(key), list):
            total += sum(_count(p) for p in page[key])
    if isinstance(page.get("dependencies"), Mapping):
        for dependency in page["dependencies"].values():
            total += _count(dependency)
    return total


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _ordered(names: list[str], order: Any) -> list[str]:
    if not isinstance(order, list):
        return names
    listed = [str(n) for n in order if n != "*" and n in names]
    rest = [n for n in names if n not in listed]
    if "*" in order:
        star = order.index("*")
        before = [n for n in order[:star] if n in listed]
        return before + rest + [n for n in listed if n not in before]
    return listed + rest


_SCALARS = (str, int, float, bool)


def _values(check: Any) -> list[Any] | None:
    if not isinstance(check, Mapping):
        return None
    if "const" in check:
        return [check["const"]]
    if isinstance(check.get("enum"), list) and check["enum"]:
        return list(check["enum"])
    return None


def _branch_values(branch: Any, name: str) -> list[Any] | None:
    if not isinstance(branch, Mapping) or not isinstance(branch.get("properties"), Mapping):
        return None
    return _values(branch["properties"].get(name))


def _condition(field_id_: str, values: list[Any]) -> dict[str, Any]:
    if len(values) == 1:
        return {"field": field_id_, "equals": values[0]}
    return {"field": field_id_, "in": values}


def _negate(condition: dict[str, Any]) -> dict[str, Any]:
    if "equals" in condition:
        return {"field": condition["field"], "not_equals": condition["equals"]}
    return {"field": condition["field"], "not_in": condition["in"]}


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Either condition: one ``in`` over both values when both test the same field."""
    if first.get("field") == second.get("field") and first.get("field") is not None:
        values = [*_leaf_values(first), *_leaf_values(second)]
        if values and all(k in ("field", "equals", "in") for k in (*first, *second)):
            return _condition(first["field"], list(dict.fromkeys(values)))
    return {"any": [first, second]}


def _leaf_values(condition: dict[str, Any]) -> list[Any]:
    if "equals" in condition:
        return [condition["equals"]]
    return list(condition.get("in", []))


def _describe(condition: dict[str, Any]) -> str:
    if "all" in condition:
        return " and ".join(_describe(c) for c in condition["all"])
    if "any" in condition:
        return " or ".join(_describe(c) for c in condition["any"])
    op = next(k for k in condition if k != "field")
    return f"{condition['field']} {op.replace('_', ' ')} {condition[op]!r}"


def _shown(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text

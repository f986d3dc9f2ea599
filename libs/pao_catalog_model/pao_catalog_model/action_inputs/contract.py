"""One action type's contract, and what it says about a catalog step's templated inputs.

An ``ActionContract`` names the pydantic model an executor validates a command's inputs
with (and its compensation's). ``InputRules`` reads the same model for the catalog: the
names it accepts, the ones it requires, whether it takes nothing else (``extra="forbid"``),
and ``problems(with_)``, what it would refuse in a step's ``with:`` before any request
renders it:

- a missing required input, an input the model does not have;
- a value written out in the document (no template inside) is validated by the model
  itself, field by field (its types, constraints and field validators), and, when the
  whole ``with:`` is written out, as a whole (its model validators too);
- a value with templates inside is checked against the field's JSON Schema as far as a
  template allows: a lone ``{{ expression }}`` may render to any value, so it passes;
  any other template renders to a string of unknown content, so the field must take a
  string (its enum, pattern and lengths wait for the rendered value); the parts written
  out around templates (``{url: "{{ ... }}", method: FETCH}``) are checked as usual.

``rendered_problems`` judges what a request would send, as an example renders it (the
catalog does for every valid example), leaving out the values only a run gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema import validators as schema_validators
from jsonschema.exceptions import ValidationError, best_match
from pao_common.templating import format_path, is_template, keeps_type, template_strings
from pydantic import AliasChoices, BaseModel
from pydantic import ValidationError as ModelError

Path_ = tuple[str | int, ...]

# A template that is not a lone expression renders to a string whose content is known only
# then: these keywords judge the content, so they wait for the rendered value.
_CONTENT_KEYWORDS = frozenset(
    {"enum", "const", "pattern", "minLength", "maxLength", "format", "contentEncoding"}
)


@dataclass(frozen=True)
class InputProblem:
    """``path`` inside ``with:`` (``()``: the mapping itself) and what is wrong there."""

    path: Path_
    message: str


@dataclass(frozen=True)
class ActionContract:
    """A built-in action type: its executor validates commands with ``inputs`` (and
    compensations with ``compensation``, default ``inputs``: the undo is the action again,
    a DELETE or a destroy). ``example`` is the least a step gives it (``inputs`` accepts
    it); ``catalog=False``: only the orchestrator sends it."""

    action_type: str
    description: str
    inputs: type[BaseModel]
    example: Mapping[str, Any] = field(compare=False)
    compensation: type[BaseModel] | None = None
    catalog: bool = True

    @property
    def compensation_inputs(self) -> type[BaseModel]:
        return self.compensation or self.inputs

    @property
    def rules(self) -> InputRules:
        """What a step's ``with:`` may hold."""
        return input_rules(self.inputs)

    @property
    def rollback_rules(self) -> InputRules:
        """What a ``rollback: with:`` naming this action may hold."""
        return input_rules(self.compensation_inputs)


@dataclass(frozen=True)
class FieldRule:
    """One field of a model: its name there, the names a document may give it by (the
    first is its own), whether it is required, and its JSON Schema."""

    attribute: str
    names: tuple[str, ...]
    required: bool
    schema: Mapping[str, Any] = field(compare=False)


@dataclass(frozen=True)
class InputRules:
    model: type[BaseModel]
    fields: tuple[FieldRule, ...]
    closed: bool
    definitions: Mapping[str, Any] = field(compare=False)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.names[0] for f in self.fields if f.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(name for f in self.fields if not f.required for name in f.names)

    def field_named(self, name: str) -> FieldRule | None:
        return next((f for f in self.fields if name in f.names), None)

    def problems(self, values: Mapping[str, Any]) -> Iterator[InputProblem]:
        """What the model would refuse in ``values`` (a step's templated ``with:``)."""
        found = False
        for wanted in self.fields:
            if wanted.required and not any(name in values for name in wanted.names):
                found = True
                yield InputProblem((), f"needs input {wanted.names[0]!r}")
        for name, value in values.items():
            known = self.field_named(str(name))
            if known is None:
                if self.closed:
                    found = True
                    yield InputProblem((name,), f"has no input {name!r}")
                continue
            for problem in self._value_problems(known, str(name), value):
                found = True
                yield problem
        if not found and not any(is_template(text) for _, text in template_strings(values)):
            yield from self._model_problems(values)

    def rendered_problems(
        self, values: Mapping[str, Any], *, unknown: Callable[[Any], bool]
    ) -> Iterator[InputProblem]:
        """What the model refuses in ``values`` as a request rendered them (a preview's
        plan); a field's value that ``unknown`` says only a run gives is not judged."""
        try:
            self.model.model_validate(dict(values))
        except ModelError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                if loc and unknown(error.get("input")):
                    continue
                where = _document_path(values, loc)
                shown = f"{format_path(_named(where, loc))}: " if loc else ""
                got = f" (renders {_short(error['input'])})" if loc else ""
                yield InputProblem(where, f"{shown}{_message(error)}{got}")

    def _value_problems(self, rule: FieldRule, name: str, value: Any) -> Iterator[InputProblem]:
        if any(is_template(text) for _, text in template_strings(value)):
            schema = {**rule.schema, "$defs": self.definitions}
            for error in _template_validator(schema).iter_errors(value):
                where = (name, *error.absolute_path)
                yield InputProblem(where, f"{format_path(where)}: {_explain(error)}")
            return
        try:
            self.model.__pydantic_validator__.validate_assignment(
                self.model.model_construct(), rule.attribute, value
            )
        except ModelError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                if loc[:1] != (rule.attribute,):
                    continue  # the model as a whole: judged when everything is written out
                where = (name, *_document_path(value, loc[1:]))
                yield InputProblem(where, f"{format_path(_named(where, loc))}: {_message(error)}")

    def _model_problems(self, values: Mapping[str, Any]) -> Iterator[InputProblem]:
        try:
            self.model.model_validate(dict(values))
        except ModelError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                where = _document_path(values, loc)
                text = _message(error)
                yield InputProblem(
                    where, f"{format_path(_named(where, loc))}: {text}" if loc else text
                )


@cache
def input_rules(model: type[BaseModel]) -> InputRules:
    """What ``model`` accepts, read from its fields and JSON Schema."""
    schema = model.model_json_schema(mode="validation")
    properties: Mapping[str, Any] = schema.get("properties", {})
    fields = []
    for attribute, info in model.model_fields.items():
        names = _names(attribute, info.alias, info.validation_alias)
        fields.append(FieldRule(attribute, names, info.is_required(), properties.get(names[0], {})))
    return InputRules(
        model,
        tuple(fields),
        closed=model.model_config.get("extra") == "forbid",
        definitions=schema.get("$defs", {}),
    )


def _names(attribute: str, alias: str | None, validation_alias: Any) -> tuple[str, ...]:
    if isinstance(validation_alias, AliasChoices):
        choices = [c for c in validation_alias.choices if isinstance(c, str)]
        if choices:
            return tuple(choices)
    if isinstance(validation_alias, str):
        return (validation_alias,)
    return (alias or attribute,)


def _document_path(value: Any, loc: tuple[Any, ...]) -> Path_:
    """``loc`` as a path in ``value``: a pydantic union's tags (``auth.bearer.token``) are
    not keys of the document, so they are left out."""
    path: list[str | int] = []
    for part in loc:
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if in_list or (isinstance(value, Mapping) and part in value):
            value = value[part]
            path.append(part)
    return tuple(path)


def _named(where: Path_, loc: tuple[Any, ...]) -> Path_:
    """``where``, and the name of a missing input at its end (``auth.token``)."""
    if loc and loc[-1] not in where[-1:] and isinstance(loc[-1], str):
        return (*where, loc[-1])
    return where


def _message(error: Any) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _tolerant(
    keyword: str, check: Callable[..., Iterator[ValidationError]]
) -> Callable[..., Iterator[ValidationError]]:
    def run(
        validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[ValidationError]:
        if (
            isinstance(instance, str)
            and is_template(instance)
            and (keeps_type(instance) or keyword in _CONTENT_KEYWORDS)
        ):
            return  # its value (or its content) exists only once a request renders it
        yield from check(validator, value, instance, schema)

    return run


_TemplateValidator = schema_validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {k: _tolerant(k, v) for k, v in Draft202012Validator.VALIDATORS.items()},
)


def _template_validator(schema: Mapping[str, Any]) -> Any:
    return _TemplateValidator(schema)


def _explain(error: ValidationError) -> str:
    wanted: list[str] = []
    if error.context and all(e.validator == "type" and not e.relative_path for e in error.context):
        wanted = [t for e in error.context for t in _types(e.validator_value)]
    elif error.context:
        deepest = best_match(error.context)
        if deepest is not None:
            error = deepest
    if error.validator == "type":
        wanted = wanted or _types(error.validator_value)
    instance = error.instance
    if wanted and isinstance(instance, str) and is_template(instance):
        return f"{_short(instance)} renders to a string, expected {' or '.join(wanted)}"
    if wanted:
        shown = f"{type(instance).__name__} {_short(instance)}"
        return f"expected {' or '.join(wanted)}, got {shown}"
    return error.message if len(error.message) <= 200 else error.message[:197] + "..."


def _types(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""Validation of a catalog document: its structure (the JSON Schema), then its meaning.

``validate_document`` returns the parsed item (when valid) and every problem as
``(path, message)``; the loader turns paths into ``file:line path`` with the YAML node
tree. The meaning checks, one function each:

- ids are unique: fields (across sections), list columns, sections, steps, examples;
- fields: rules fit the type, patterns compile with RE2 (linear time) and read the same
  in the portal's browser, min <= max, options are unique, a
  message exists only for a rule the field has, conditions name other existing fields,
  a default satisfies the field's own rules;
- steps: the action type is known and its ``with:`` is what the executor's input model
  takes (a built-in's: required inputs, no unknown one, values of the right type; see
  ``pao_catalog_model.action_inputs.contract``), a ``rollback: with:`` what its compensation takes;
  ``rollback:`` uses an action that can compensate; retry backoff is sane;
- templates and ``when:`` parse, and every variable exists: ``inputs.x`` is a field,
  ``steps.y.outputs`` an earlier step (a rollback may read its own step), ``user.*``,
  ``item.*``, ``request.*``, ``system.*`` are known keys; manual tickets and approval
  conditions cannot read step outputs;
- fulfillment: ``fallback_to_manual`` needs ``manual.jira``; a manual ticket in an
  automated item is only used as that fallback;
- approval: required approval names at least one approver;
- examples: there is at least one, its user may request the item, its inputs pass the
  item's own form, every template renders with them, and what they render for a built-in
  action (each step's and rollback's ``with:``, the manual ticket) its model takes;
- ``resource:`` and ``operations:`` (``pao_catalog_model.operation_checks``): an operation is
  checked like the item (form, approval, binary fulfilment, steps, variables), and its
  templates may also read ``resource.*``; ``resource.outputs.x`` must be an output the
  item's provisioning declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from pao_common.errors import TemplateError
from pao_common.patterns import pattern_problem
from pao_common.templating import (
    CONTEXT_ROOTS,
    format_path,
    parse_expression,
    referenced_variables,
    regex_problems,
    template_strings,
)

from pao_catalog_model.action_inputs import (
    ActionContract,
    InputProblem,
    builtin_action,
)
from pao_catalog_model.actions import ORCHESTRATOR_ACTIONS, ActionRegistry, default_registry
from pao_catalog_model.errors import InvalidCatalogDocument
from pao_catalog_model.forms import (
    apply_defaults,
    build_schema,
    errors_for,
    field_schema,
    form_validator,
)
from pao_catalog_model.model import (
    Approval,
    Automated,
    CatalogItem,
    ChangeClass,
    Condition,
    Example,
    FormField,
    Fulfillment,
    Presentation,
    Step,
    parse_item,
)
from pao_catalog_model.schema import document_validator

Path_ = tuple[str | int, ...]
Problem = tuple[Path_, str]

_STRING_RULES = {"min_length", "max_length", "pattern"}
_NUMBER_RULES = {"minimum", "maximum", "multiple_of"}
_ITEM_RULES = {"min_items", "max_items"}
_RULES_BY_TYPE: Mapping[str, set[str]] = {
    "string": _STRING_RULES,
    "text": _STRING_RULES,
    "secret": _STRING_RULES,
    "email": _STRING_RULES,
    "url": _STRING_RULES,
    "date": set(),
    "datetime": set(),
    "integer": _NUMBER_RULES,
    "number": _NUMBER_RULES,
    "boolean": set(),
    "select": set(),
    "multiselect": _ITEM_RULES,
    "list": _ITEM_RULES,
    "keyvalue": _ITEM_RULES | {"pattern"},
}
_ALWAYS_MESSAGES = {"required", "type", "format", "options"}


def validate_document(
    document: Mapping[str, Any], *, registry: ActionRegistry | None = None
) -> tuple[CatalogItem | None, list[Problem]]:
    """The item and no problems, or ``None`` and every problem found."""
    structural = list(structure_problems(document))
    if structural:
        return None, structural
    try:
        item = parse_item(dict(document))
    except InvalidCatalogDocument as exc:
        return None, [((), problem) for problem in exc.problems]
    problems = list(meaning_problems(item, registry or default_registry()))
    return (None, problems) if problems else (item, [])


# --- structure ----------------------------------------------------------------------------


def structure_problems(document: Mapping[str, Any]) -> Iterator[Problem]:
    errors = sorted(
        document_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    )
    for error in errors:
        yield tuple(error.absolute_path), _schema_message(error)


def _schema_message(error: ValidationError) -> str:
    if error.context:
        # A branch that wants another type is rarely the one the author meant.
        fitting = [e for e in error.context if not (e.validator == "type" and not e.relative_path)]
        deepest = best_match(fitting or error.context)
        if deepest is not None and list(deepest.absolute_path) != list(error.absolute_path):
            where = format_path(tuple(deepest.relative_path)[len(error.relative_path) :])
            return f"{where}: {_short(deepest)}" if where else _short(deepest)
        if deepest is not None:
            return _short(deepest)
    return _short(error)


def _short(error: ValidationError) -> str:
    value = error.validator_value
    match error.validator:
        case "const" if error.absolute_path and error.absolute_path[-1] == "schemaVersion":
            return f"must be {value!r}"
        case "pattern":
            return f"{_repr(error.instance)} does not match {value}"
        case "enum":
            choices = ", ".join(str(v) for v in value)  # type: ignore[union-attr]
            return f"{_repr(error.instance)} is not one of {choices}"
        case "type":
            return f"expected {value}, got {type(error.instance).__name__} {_repr(error.instance)}"
        case "additionalProperties" | "unevaluatedProperties":
            return error.message.replace("Additional properties", "Unknown keys")
        case "not":
            return "these keys cannot be used together: " + ", ".join(
                _required_in(value) or ["(see the schema)"]
            )
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


def _required_in(schema: Any) -> list[str]:
    if isinstance(schema, Mapping):
        if isinstance(schema.get("required"), list):
            return [str(x) for x in schema["required"]]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return [n for sub in schema[key] for n in _required_in(sub)]
    return []


def _repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- meaning ------------------------------------------------------------------------------


def meaning_problems(item: CatalogItem, registry: ActionRegistry) -> Iterator[Problem]:
    """Static checks first; examples only against a sound form; rendering only when clean."""
    fields = list(field_paths(item))
    field_ids = {f.id for _, f in fields}
    form = [*form_problems(item.presentation, ("presentation",))]
    form.extend(step_id_problems(item.fulfillment.automated, ("fulfillment", "automated")))
    form.extend(
        duplicates(
            [(("examples", i, "name"), e.name) for i, e in enumerate(item.examples)],
            "example name",
        )
    )
    rest = [*_approval_problems(item), *_fulfillment_problems(item, registry, field_ids)]
    from pao_catalog_model.operation_checks import operation_problems, resource_problems

    rest.extend(resource_problems(item))
    rest.extend(operation_problems(item, registry))
    yield from form
    yield from rest
    if form:
        return  # the form itself is broken: examples cannot be judged against it
    yield from _example_problems(item, render=not rest)


def field_paths(item: CatalogItem) -> Iterator[tuple[Path_, FormField]]:
    yield from presentation_field_paths(item.presentation, ("presentation",))


def presentation_field_paths(
    presentation: Presentation, path: Path_
) -> Iterator[tuple[Path_, FormField]]:
    for index, f in enumerate(presentation.fields):
        yield (*path, "fields", index), f
    for s_index, section in enumerate(presentation.sections):
        for index, f in enumerate(section.fields):
            yield (*path, "sections", s_index, "fields", index), f


def form_problems(presentation: Presentation, path: Path_) -> Iterator[Problem]:
    """A form's ids are unique and each field is sound (the item's or an operation's)."""
    fields = list(presentation_field_paths(presentation, path))
    field_ids = {f.id for _, f in fields}
    yield from _unique_ids(presentation, path, fields)
    for field_path, f in fields:
        yield from _field_problems(field_path, f, field_ids)


def duplicates(entries: Iterable[tuple[Path_, str]], what: str) -> Iterator[Problem]:
    seen: dict[str, Path_] = {}
    for path, name in entries:
        if name in seen:
            yield path, f"duplicate {what} {name!r} (first at {format_path(seen[name])})"
        else:
            seen[name] = path


def _unique_ids(
    presentation: Presentation, path: Path_, fields: list[tuple[Path_, FormField]]
) -> Iterator[Problem]:
    yield from duplicates([((*p, "id"), f.id) for p, f in fields], "field id")
    sections = presentation.sections
    yield from duplicates(
        [((*path, "sections", i, "id"), s.id) for i, s in enumerate(sections)],
        "section id",
    )
    for field_path, f in fields:
        columns = [((*field_path, "fields", i, "id"), c.id) for i, c in enumerate(f.fields)]
        yield from duplicates(columns, "column id")


def step_id_problems(automated: Automated | None, path: Path_) -> Iterator[Problem]:
    if automated is not None:
        yield from duplicates(
            [((*path, "steps", i, "id"), s.id) for i, s in enumerate(automated.steps)], "step id"
        )


_RULES = (
    "min_length",
    "max_length",
    "minimum",
    "maximum",
    "multiple_of",
    "pattern",
    "min_items",
    "max_items",
)


def _field_problems(path: Path_, f: FormField, field_ids: set[str]) -> Iterator[Problem]:
    rules = f.validation
    set_rules = {name for name in _RULES if getattr(rules, name) is not None}
    for rule in sorted(set_rules - _RULES_BY_TYPE[f.type]):
        yield (*path, "validation", rule), f"rule {rule} does not apply to a {f.type} field"
    if rules.pattern is not None:
        problem = pattern_problem(rules.pattern)
        if problem is not None:
            yield (*path, "validation", "pattern"), f"pattern {rules.pattern!r} refused: {problem}"
            return  # the field's schema cannot be used to check its default
    yield from _rule_problems(path, f, set_rules)
    options = [((*path, "options", i), str(o.value)) for i, o in enumerate(f.options)]
    yield from duplicates(options, "option")
    yield from _condition_problems(path, f, field_ids)
    if f.required and f.required_if is not None:
        yield (*path, "required_if"), "required_if on a field that is always required"
    for index, column in enumerate(f.fields):
        yield from _field_problems((*path, "fields", index), column, {c.id for c in f.fields})
    if f.has_default:
        yield from _default_problems(path, f)
    if f.type == "select" and f.options_from and f.options:
        yield (*path, "options_from"), "use options or options_from, not both"


def _rule_problems(path: Path_, f: FormField, set_rules: set[str]) -> Iterator[Problem]:
    """Bounds the wrong way round, and messages for rules the field does not set."""
    rules = f.validation
    for low, high in (
        ("min_length", "max_length"),
        ("minimum", "maximum"),
        ("min_items", "max_items"),
    ):
        lo, hi = getattr(rules, low), getattr(rules, high)
        if lo is not None and hi is not None and lo > hi:
            yield (*path, "validation", low), f"{low} {lo} is greater than {high} {hi}"
    for rule in sorted(set(rules.messages) - set_rules - _ALWAYS_MESSAGES):
        yield (
            (*path, "validation", "messages", rule),
            f"message for rule {rule}, which the field does not set",
        )
    if "options" in rules.messages and f.type not in ("select", "multiselect"):
        yield (
            (*path, "validation", "messages", "options"),
            "message for options on a field without options",
        )


def _condition_problems(path: Path_, f: FormField, field_ids: set[str]) -> Iterator[Problem]:
    """``visible_if``/``required_if`` on the field itself or on an unknown field."""
    for key in ("visible_if", "required_if"):
        condition: Condition | None = getattr(f, key)
        if condition is None:
            continue
        for name in condition.fields():
            if name == f.id:
                yield (
                    (*path, key),
                    f"a field's condition cannot depend on the field itself ({name})",
                )
            elif name not in field_ids:
                yield (*path, key), f"condition on unknown field {name!r}"


def _default_problems(path: Path_, f: FormField) -> Iterator[Problem]:
    """Where the field's default breaks the field's own schema."""
    validator = form_validator(field_schema(f))
    for error in validator.iter_errors(f.default):
        where = format_path(tuple(error.absolute_path))
        yield (
            (*path, "default"),
            (
                f"default {_repr(f.default)} breaks the field's own rules: "
                f"{(where + ': ') if where else ''}{_short(error)}"
            ),
        )


def _approval_problems(item: CatalogItem) -> Iterator[Problem]:
    scope = _scope(item, allow_steps=False)
    yield from approval_problems(item.approval, ("approval",), scope)
    yield from change_class_problems(item.change_class, ("change_class",), scope)


def change_class_problems(spec: ChangeClass, path: Path_, scope: Scope) -> Iterator[Problem]:
    """Each rule's ``when`` reads only what a request's templates may read; a rule that
    gives the default class changes nothing (most likely a slip)."""
    for index, rule in enumerate(spec.rules):
        at = (*path, "rules", index)
        yield from _expression_problems(rule.when, (*at, "when"), scope)
        if rule.class_ == spec.default:
            yield (*at, "class"), f"gives {rule.class_}, the default: the rule changes nothing"


def approval_problems(approval: Approval, path: Path_, scope: Scope) -> Iterator[Problem]:
    """A required approval names an approver (or its stages do); ``when:`` reads only
    what ``scope`` offers."""
    if approval.stages:
        yield from stage_problems(approval, path)
    elif approval.required and not approval.approvers.named:
        yield (*path, "approvers"), "approval is required but no approver is named"
    if approval.when is not None:
        if not approval.required:
            yield (*path, "when"), "when: has no effect unless required: true"
        yield from _expression_problems(approval.when, (*path, "when"), scope)


def stage_problems(approval: Approval, at: Path_ = ("approval",)) -> Iterator[Problem]:
    """A staged approval: each stage names approvers, and its rule can be met."""
    if approval.approvers.named:
        yield (
            (*at, "approvers"),
            "name the approvers in each stage, not beside stages:",
        )
    if not approval.required:
        yield (*at, "required"), "stages: need required: true"
    for index, stage in enumerate(approval.stages):
        path = (*at, *approval.stage_path(index)[1:])
        who = stage.approvers
        if not who.named:
            yield (*path, "approvers"), "the stage names no approver"
        if stage.rule == "n" and stage.n is None:
            yield (*path, "n"), "rule: n needs n: (how many must approve)"
        if stage.rule != "n" and stage.n is not None:
            yield (*path, "n"), f"n: has no effect with rule: {stage.rule}"
        slots = (
            len(who.users)
            + len(who.teams)
            + int(who.requester_manager)
            + int(who.resource_owner_team)
        )
        if stage.rule == "n" and stage.n is not None and not who.teams and stage.n > slots:
            yield (*path, "n"), f"n: {stage.n} but the stage names only {slots} approver(s)"


#: What ``resource`` offers an operation's templates (``pao_common.messages.ResourceEvent``).
RESOURCE_KEYS = frozenset({"id", "name", "owner_team", "item_version", "inputs", "outputs"})


class ResourceScope:
    """What ``resource.*`` may read at one place: ``keys`` of it, the item's fields as
    ``resource.inputs.<field>`` and the outputs its provisioning declares."""

    def __init__(self, keys: frozenset[str], item_fields: set[str], outputs: set[str]) -> None:
        self.keys = keys
        self.item_fields = item_fields
        self.outputs = outputs


class Scope:
    """What a template at one place may read."""

    def __init__(
        self,
        fields: set[str],
        steps: list[str],
        before: set[str] | None,
        *,
        resource: ResourceScope | None = None,
        roots: frozenset[str] | None = None,
    ) -> None:
        self.fields = fields
        self.steps = steps
        self.before = before  # None: no step outputs may be read here
        self.resource = resource  # None: ``resource`` is not available here
        self.roots = roots  # None: every root of the context

    def at(self, before: set[str] | None) -> Scope:
        """The same place, after the steps ``before`` (None: no step outputs)."""
        return Scope(self.fields, self.steps, before, resource=self.resource, roots=self.roots)


def _scope(item: CatalogItem, *, allow_steps: bool, before: set[str] | None = None) -> Scope:
    automated = item.fulfillment.automated
    steps = [s.id for s in automated.steps] if automated else []
    if allow_steps and before is None:
        before = set(steps)
    return Scope(
        {f.id for f in item.presentation.all_fields()}, steps, before if allow_steps else None
    )


def _resource_problems(ref: Path_, scope: Scope) -> Iterator[str]:
    resource = scope.resource
    if resource is None:
        yield (
            f"{format_path(ref[:2])}: resource is available only in an operation's templates "
            "and in resource:"
        )
        return
    if len(ref) < 2:
        return
    key = ref[1]
    if key not in resource.keys:
        known = ", ".join(sorted(resource.keys))
        yield f"unknown variable {format_path(ref[:2])} (known here: {known})"
    elif len(ref) > 2 and key == "inputs" and ref[2] not in resource.item_fields:
        yield f"unknown variable {format_path(ref[:3])}: the item has no field {ref[2]!r}"
    elif len(ref) > 2 and key == "outputs" and ref[2] not in resource.outputs:
        declared = ", ".join(sorted(resource.outputs)) or "none"
        yield (
            f"unknown variable {format_path(ref[:3])}: the item's provisioning declares no "
            f"output {ref[2]!r} (fulfillment.automated.outputs: {declared})"
        )


def _variable_problems(refs: Iterable[Path_], scope: Scope) -> Iterator[str]:
    for ref in sorted(refs, key=str):
        root = ref[0]
        dotted = format_path(ref[:2])
        if scope.roots is not None and root not in scope.roots:
            yield f"{format_path(ref[:2])}: only {', '.join(sorted(scope.roots))} can be read here"
        elif root == "resource":
            yield from _resource_problems(ref, scope)
        elif root not in CONTEXT_ROOTS:
            yield f"unknown variable {root}"
        elif root == "inputs":
            if len(ref) > 1 and ref[1] not in scope.fields:
                yield f"unknown variable {dotted}: no field {ref[1]!r}"
        elif root == "steps":
            if scope.before is None:
                yield f"step outputs are not available here ({format_path(ref)})"
            elif len(ref) > 1:
                if ref[1] not in scope.steps:
                    yield f"unknown variable {dotted}: no step {ref[1]!r}"
                elif ref[1] not in scope.before:
                    yield f"{dotted} is not an earlier step, its outputs do not exist yet"
                elif len(ref) > 2 and ref[2] != "outputs":
                    yield f"unknown variable {format_path(ref[:3])}: a step offers only .outputs"
        else:
            known = CONTEXT_ROOTS[str(root)]
            if len(ref) > 1 and known is not None and ref[1] not in known:
                yield f"unknown variable {dotted} (known: {', '.join(sorted(known))})"


def template_problems(value: Any, path: Path_, scope: Scope) -> Iterator[Problem]:
    for sub_path, text in template_strings(value):
        where = (*path, *sub_path)
        try:
            refs = referenced_variables(text)
        except TemplateError as exc:
            yield where, str(exc)
            continue
        for message in _variable_problems(refs, scope):
            yield where, message
        for message in regex_problems(text):
            yield where, message


def _expression_problems(expr: str, path: Path_, scope: Scope) -> Iterator[Problem]:
    try:
        parse_expression(expr)
        refs = referenced_variables(expr, expression=True)
    except TemplateError as exc:
        yield path, str(exc)
        return
    for message in _variable_problems(refs, scope):
        yield path, message
    for message in regex_problems(expr, expression=True):
        yield path, message


def _fulfillment_problems(
    item: CatalogItem, registry: ActionRegistry, field_ids: set[str]
) -> Iterator[Problem]:
    yield from fulfillment_problems(
        item.fulfillment, ("fulfillment",), registry, _scope(item, allow_steps=False)
    )


def fulfillment_problems(
    fulfillment: Fulfillment, path: Path_, registry: ActionRegistry, scope: Scope
) -> Iterator[Problem]:
    """The item's or an operation's fulfilment: binary (manual XOR automated, a manual
    ticket only as the fallback), steps known and fed, every template's variables known.
    ``scope`` is what its templates read besides step outputs."""
    automated = fulfillment.automated
    steps = [s.id for s in automated.steps] if automated else []
    scope = Scope(scope.fields, steps, None, resource=scope.resource, roots=scope.roots)
    if fulfillment.manual is not None:
        ticket = fulfillment.manual.jira.model_dump(exclude_none=True)
        yield from template_problems(ticket, (*path, "manual", "jira"), scope.at(None))
        if fulfillment.mode == "automated" and automated and not automated.fallback_to_manual:
            yield (
                (*path, "manual"),
                ("a manual ticket in an automated item is used only with fallback_to_manual: true"),
            )
    if fulfillment.mode == "manual" and automated is not None:
        yield (
            (*path, "automated"),
            "mode is manual: remove automated or set mode: automated",
        )
    if automated is None:
        return
    if automated.fallback_to_manual and fulfillment.manual is None:
        yield (
            (*path, "automated", "fallback_to_manual"),
            ("fallback_to_manual needs fulfillment.manual.jira, the ticket to fall back to"),
        )
    earlier: set[str] = set()
    for index, step in enumerate(automated.steps):
        yield from _step_problems(
            step, (*path, "automated", "steps", index), registry, scope, earlier
        )
        earlier.add(step.id)
    yield from template_problems(
        automated.outputs, (*path, "automated", "outputs"), scope.at(set(earlier))
    )


def _step_problems(
    step: Step, path: Path_, registry: ActionRegistry, base: Scope, earlier: set[str]
) -> Iterator[Problem]:
    scope = base.at(set(earlier))
    if step.action in ORCHESTRATOR_ACTIONS:
        yield (
            (*path, "action"),
            f"action type {step.action!r} is sent by the orchestrator only; a step cannot use it",
        )
    elif step.action not in registry:
        yield (
            (*path, "action"),
            (
                f"unknown action type {step.action!r} (known: {', '.join(registry.names())}; "
                "declare your own with PAO_EXTRA_ACTION_TYPES or PAO_ACTION_TYPES_FILE)"
            ),
        )
    else:
        action = registry.get(step.action)
        for problem in action.input_problems(step.with_):
            yield (*path, "with", *problem.path), _worded(f"action {step.action}", problem)
    yield from template_problems(step.with_, (*path, "with"), scope)
    if step.when is not None:
        yield from _expression_problems(step.when, (*path, "when"), scope)
    retry = step.retry
    if retry.backoff_s > retry.max_backoff_s:
        yield (
            (*path, "retry", "backoff_s"),
            (f"backoff_s {retry.backoff_s} is greater than max_backoff_s {retry.max_backoff_s}"),
        )
    if step.rollback is not None:
        rollback = step.rollback
        rpath = (*path, "rollback")
        if rollback.action not in registry:
            yield (
                (*rpath, "action") if rollback.action != step.action else (*path, "action"),
                (f"unknown action type {rollback.action!r} for rollback"),
            )
        else:
            action = registry.get(rollback.action)
            if not action.supports_rollback:
                yield (
                    rpath,
                    f"action {rollback.action} cannot compensate, so it cannot be a rollback",
                )
            for problem in action.rollback_problems(rollback.with_):
                yield (
                    (*rpath, "with", *problem.path),
                    _worded(f"rollback action {rollback.action}", problem),
                )
        own = base.at({*earlier, step.id})
        yield from template_problems(rollback.with_, (*rpath, "with"), own)


def _worded(what: str, problem: InputProblem) -> str:
    """``action rest needs input 'url'``, ``action rest: method: ...``."""
    message = problem.message
    if message.startswith(("needs input ", "has no input ")):
        return f"{what} {message}"
    return f"{what}: {message}"


def _example_problems(item: CatalogItem, *, render: bool) -> Iterator[Problem]:
    if not item.examples:
        yield (), "at least one example (examples: [{name, user, inputs}]) is required"
        return
    schema = build_schema(item)
    for index, example in enumerate(item.examples):
        path: Path_ = ("examples", index)
        user = example.user
        if not item.access.allows(user.teams, user.roles):
            yield (
                (*path, "user"),
                (
                    f"user {user.id!r} may not request this item (access: teams "
                    f"{list(item.access.teams)}, roles {list(item.access.roles)})"
                ),
            )
        errors = errors_for(item, schema, apply_defaults(item, example.inputs, schema=schema))
        yield from _expectation_problems(item, example, path, bool(errors))
        if example.expects_errors:
            continue  # a bad example on purpose: `pao catalog test` checks its errors
        for error in errors:
            yield (*path, "inputs", *_split(error.field)), error.message
        if render and not errors:
            yield from _render_problems(item, index)
    if all(e.expects_errors for e in item.examples):
        yield ("examples",), "at least one example must be valid (every one expects errors)"


def _expectation_problems(
    item: CatalogItem, example: Example, path: Path_, invalid: bool
) -> Iterator[Problem]:
    expect = example.expect
    if expect is None:
        return
    if expect.invalid and not invalid:
        yield (*path, "expect", "errors"), "the example expects errors but its inputs are valid"
    automated = item.fulfillment.automated
    for step_id in expect.steps:
        if automated is None or automated.step(step_id) is None:
            yield (*path, "expect", "steps", step_id), f"no step {step_id!r} in this item"


def _split(field: str) -> Path_:
    parts: list[str | int] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", field):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


def _render_problems(item: CatalogItem, index: int) -> Iterator[Problem]:
    """Render every template with an example, so runtime errors surface at load time;
    each operation's too, on the resource the example would make."""
    from pao_catalog_model.preview import RenderError, render_operation_plan, render_plan

    example = item.examples[index]
    try:
        plan = render_plan(item, example.inputs, example.user)
    except RenderError as exc:
        yield exc.path, f"does not render with example {example.name!r}: {exc.reason}"
        return
    yield from _rendered_input_problems(plan, (), f"example {example.name!r}")
    for op_index, operation in enumerate(item.operations):
        try:
            op_plan = render_operation_plan(item, operation.id, example.inputs, example.user)
        except RenderError as exc:
            yield (
                ("operations", op_index, *exc.path),
                f"does not render on the resource of example {example.name!r}: {exc.reason}",
            )
            continue
        yield from _rendered_input_problems(
            op_plan, ("operations", op_index), f"the resource of example {example.name!r}"
        )


def _rendered_input_problems(plan: Mapping[str, Any], at: Path_, what: str) -> Iterator[Problem]:
    """What a built-in executor would refuse in the inputs ``plan`` renders: each step's
    ``with:`` and ``rollback: with:``, and the manual ticket the ``jira`` action gets."""
    from pao_catalog_model.preview import holds_placeholder

    ticket = plan.get("jira") or plan.get("fallback_jira")
    if ticket is not None:
        rules = builtin_action("jira").rules
        for problem in rules.rendered_problems(ticket, unknown=holds_placeholder):
            where = (*at, "fulfillment", "manual", "jira", *problem.path)
            yield where, f"the jira action refuses the ticket {what} renders: {problem.message}"
    for index, step in enumerate(plan.get("steps") or ()):
        path = (*at, "fulfillment", "automated", "steps", index)
        rollback = step.get("rollback") or {}
        for action, with_, sub, rules_of in (
            (step["action"], step.get("with"), ("with",), "rules"),
            (rollback.get("action"), rollback.get("with"), ("rollback", "with"), "rollback_rules"),
        ):
            contract = _contract(action)
            if contract is None or with_ is None:
                continue
            rules = getattr(contract, rules_of)
            for problem in rules.rendered_problems(with_, unknown=holds_placeholder):
                yield (
                    (*path, *sub, *problem.path),
                    f"action {action} refuses what {what} renders: {problem.message}",
                )


def _contract(action: Any) -> ActionContract | None:
    try:
        return builtin_action(str(action))
    except KeyError:
        return None

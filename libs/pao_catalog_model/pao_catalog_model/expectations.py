"""Checking an example's declared expectations against its preview (``pao catalog test``).

An example may say what it should give (``expect:``): the approval decision, fields of the
rendered JIRA ticket, each step's ``runs`` / ``with`` / ``rollback`` and the request
outputs, or, for inputs that are invalid on purpose, the fields that fail and words of
their messages. Mappings match as subsets (each key given must be there, with that
value; others may be there too), lists and scalars exactly; values only a run produces
are the preview's placeholders (``<steps.create.outputs.arn>``). So a team's CI catches
a template change that breaks its ticket.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pao_common.templating import format_path

from pao_catalog_model.model import CatalogItem, Example, Expectation
from pao_catalog_model.preview import RenderError, preview


def check_example(item: CatalogItem, example: Example) -> list[str]:
    """Every way the example's preview differs from what it expects (empty: it passes).

    Without ``expect:`` an example passes when its inputs are valid and it renders."""
    try:
        shown = preview(item, example.inputs, example.user)
    except RenderError as exc:
        return [f"does not render: {exc}"]
    expect = example.expect
    if expect is not None and expect.invalid:
        return list(_error_problems(expect, [(e.field, e.message) for e in shown.errors]))
    if shown.errors:
        return [f"inputs are invalid: {e.field or '<inputs>'}: {e.message}" for e in shown.errors]
    if expect is None or shown.plan is None:
        return []
    return list(_plan_problems(expect, shown.plan))


def _error_problems(expect: Expectation, actual: list[tuple[str | None, str]]) -> Iterator[str]:
    expected = expect.errors or ()
    if not actual:
        yield "expected validation errors, but the inputs are valid"
        return
    fields = {f for f, _ in actual}
    wanted = {e.field for e in expected}
    for field in sorted(fields - wanted, key=str):
        found = "; ".join(m for f, m in actual if f == field)
        yield f"unexpected error on {field or '<inputs>'}: {found}"
    for error in expected:
        messages = [m for f, m in actual if f == error.field]
        if not messages:
            yield f"expected an error on {error.field or '<inputs>'}, got none"
        elif error.message and not any(error.message in m for m in messages):
            yield (
                f"error on {error.field or '<inputs>'}: expected a message containing "
                f"{error.message!r}, got {'; '.join(messages)!r}"
            )


def _plan_problems(expect: Expectation, plan: Mapping[str, Any]) -> Iterator[str]:
    if expect.approval is not None and plan["approval"]["required"] != expect.approval:
        yield f"approval: expected {expect.approval!r}, got {plan['approval']['required']!r}"
    if expect.change_class is not None and plan.get("change_class") != expect.change_class:
        yield f"change_class: expected {expect.change_class}, got {plan.get('change_class')}"
    for key in ("jira", "fallback_jira"):
        wanted = getattr(expect, key)
        if wanted is not None:
            if key not in plan:
                yield f"{key}: expected a ticket, the item renders none"
            else:
                yield from subset(wanted, plan[key], (key,))
    steps = {s["id"]: s for s in plan.get("steps", [])}
    for step_id, wanted_step in expect.steps.items():
        step = steps.get(step_id)
        if step is None:
            yield f"steps.{step_id}: no such step"
            continue
        if wanted_step.runs is not None and step["runs"] != wanted_step.runs:
            yield f"steps.{step_id}.runs: expected {wanted_step.runs!r}, got {step['runs']!r}"
        if wanted_step.with_ is not None:
            yield from subset(wanted_step.with_, step["with"], ("steps", step_id, "with"))
        if wanted_step.rollback is not None:
            rollback = (step.get("rollback") or {}).get("with")
            yield from subset(wanted_step.rollback, rollback, ("steps", step_id, "rollback"))
    if expect.outputs is not None:
        yield from subset(expect.outputs, plan.get("outputs"), ("outputs",))


def subset(expected: Any, actual: Any, path: tuple[str | int, ...]) -> Iterator[str]:
    """Where ``actual`` differs from ``expected``: mappings as subsets, the rest exactly."""
    where = format_path(path)
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            yield f"{where}: expected a mapping, got {actual!r}"
            return
        for key, value in expected.items():
            if key not in actual:
                yield f"{where}.{key}: missing (expected {value!r})"
            else:
                yield from subset(value, actual[key], (*path, key))
    elif expected != actual or _different_types(expected, actual):
        yield f"{where}: expected {expected!r}, got {actual!r}"


def _different_types(a: Any, b: Any) -> bool:
    """``True == 1`` in Python; in a ticket they differ. Ints and floats compare as numbers."""
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
        return False
    return type(a) is not type(b)

"""Dry run of an item: what a request with given inputs would do, contacting nothing.

``render_plan`` renders, with the same templating the orchestrator uses, the approval
decision, the JIRA ticket (manual items, and the fallback ticket of automated ones) and
every step's ``with:`` and ``rollback:``. Step outputs do not exist before a run, so a
template reading ``steps.db.outputs.host`` shows the placeholder ``<steps.db.outputs.host>``,
and a ``when:`` that reads step outputs is shown as decided at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pao_common import approvals
from pao_common.errors import TemplateError
from pao_common.messages import Requester
from pao_common.templating import build_context, evaluate, format_path, referenced_variables, render

from pao_catalog_model.forms import (
    FieldError,
    apply_defaults,
    build_form,
    find_operation,
    operation_item,
    validate_inputs,
)
from pao_catalog_model.model import CatalogItem, ExampleUser, Step

Path_ = tuple[str | int, ...]

PREVIEW_REQUEST = {"id": "req-preview", "submitted_at": "2030-01-01T09:00:00+00:00"}
PREVIEW_SYSTEM = {
    "environment": "preview",
    "portal_url": "https://pao.example.com",
    "now": "2030-01-01T09:00:00+00:00",
}


class RenderError(TemplateError):
    """A template failed while rendering the plan; ``path`` is where it is in the document."""

    def __init__(self, path: Path_, reason: str) -> None:
        super().__init__(f"{format_path(path)}: {reason}")
        self.path = path
        self.reason = reason


#: How a ``Placeholder`` shows in a rendered plan (``<steps.db.outputs.host>``, an
#: operation's ``<inputs.size>``): its value exists only when a request runs. (In any
#: case: a model may have changed the text before refusing it, as ``rest`` upper-cases
#: its method.)
PLACEHOLDER_TEXT = re.compile(r"<(steps|inputs)\.[^<>]*>", re.IGNORECASE)


def holds_placeholder(value: Any) -> bool:
    """Whether a rendered value (or anything inside it) stands for a value of a run."""
    if isinstance(value, str):
        return PLACEHOLDER_TEXT.search(value) is not None
    if isinstance(value, Mapping):
        return any(holds_placeholder(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_placeholder(v) for v in value)
    return False


class Placeholder(Mapping[str, Any]):
    """Stands for a value only a run produces; renders as ``<steps.id.outputs.key>``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, key: str) -> Placeholder:
        if key.startswith("_"):
            raise AttributeError(key)
        return Placeholder(f"{self._name}.{key}")

    def __getitem__(self, key: object) -> Placeholder:
        return Placeholder(
            f"{self._name}[{key!r}]" if not isinstance(key, str) else f"{self._name}.{key}"
        )

    def __str__(self) -> str:
        return f"<{self._name}>"

    __repr__ = __str__

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Placeholder) and other._name == self._name

    def __hash__(self) -> int:
        return hash(self._name)


def _plain(value: Any) -> Any:
    if isinstance(value, Placeholder):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class Preview:
    """Everything ``pao catalog preview`` prints."""

    form: dict[str, Any]
    inputs: dict[str, Any]
    errors: list[FieldError]
    plan: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "inputs": self.inputs,
            "valid": not self.errors,
            "errors": [e.as_dict() for e in self.errors],
            "plan": self.plan,
        }


def user_dict(user: ExampleUser | Mapping[str, Any] | None) -> dict[str, Any]:
    if user is None:
        return {"id": "preview-user", "teams": [], "roles": []}
    if isinstance(user, ExampleUser):
        return user.model_dump(mode="json")
    return dict(user)


def preview(
    item: CatalogItem,
    inputs: Mapping[str, Any],
    user: ExampleUser | Mapping[str, Any] | None = None,
) -> Preview:
    """Form, validation result and (when the inputs are valid) the rendered plan."""
    errors = validate_inputs(item, inputs)
    values = apply_defaults(item, inputs)
    result = Preview(form=build_form(item), inputs=values, errors=errors)
    who = user_dict(user)
    if not item.access.allows(who.get("teams", ()), who.get("roles", ())):
        result.notes.append(f"user {who.get('id')!r} may not request this item (access rules)")
    if not errors:
        result.plan = render_plan(item, values, who)
    return result


PREVIEW_RESOURCE_ID = "res-preview"


def render_operation_plan(
    item: CatalogItem,
    operation_id: str,
    resource_inputs: Mapping[str, Any],
    user: ExampleUser | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The rendered plan of operation ``operation_id`` on the resource that the item made
    from ``resource_inputs``; ``RenderError`` names the failing template, its path in the
    operation (``fulfillment.automated.steps[0].with.url``)."""
    operation = find_operation(item, operation_id)
    made = apply_defaults(item, resource_inputs)
    provisioned = render_plan(item, made, user)
    view = operation_item(item, operation_id, made)
    inputs: dict[str, Any] = {
        f.id: Placeholder(f"inputs.{f.id}") for f in operation.presentation.all_fields()
    }
    inputs.update(apply_defaults(view, {}))
    resource = {
        "id": PREVIEW_RESOURCE_ID,
        "name": f"{item.metadata.id}-preview",
        "owner_team": next(iter(user_dict(user).get("teams") or ()), None),
        "item_version": item.metadata.version,
        "inputs": made,
        "outputs": provisioned.get("outputs") or {},
    }
    as_run = item.model_copy(
        update={
            "presentation": operation.presentation,
            "approval": operation.approval,
            "fulfillment": operation.fulfillment,
        }
    )
    plan = render_plan(as_run, inputs, user, resource=resource, defaults=False)
    plan["operation"] = operation.id
    return plan


def render_plan(
    item: CatalogItem,
    inputs: Mapping[str, Any],
    user: ExampleUser | Mapping[str, Any] | None = None,
    *,
    resource: Mapping[str, Any] | None = None,
    defaults: bool = True,
) -> dict[str, Any]:
    """The rendered approval, ticket and steps; ``RenderError`` names the failing template.

    ``resource`` is what an operation's templates see as ``resource``; ``defaults=False``
    takes ``inputs`` as they are (they hold placeholders)."""
    values = apply_defaults(item, inputs) if defaults else dict(inputs)
    automated = item.fulfillment.automated
    steps = (
        {s.id: {"outputs": Placeholder(f"steps.{s.id}.outputs")} for s in automated.steps}
        if automated
        else {}
    )
    context = build_context(
        inputs=values,
        user=user_dict(user),
        item=item,
        request=PREVIEW_REQUEST,
        system=PREVIEW_SYSTEM,
        steps=steps,
    )
    if resource is not None:
        context["resource"] = dict(resource)
    plan: dict[str, Any] = {
        "item": {"id": item.metadata.id, "version": item.metadata.version},
        "mode": item.fulfillment.mode,
        "approval": _approval(item, context),
        "change_class": _change_class(item, context),
    }
    manual = item.fulfillment.manual
    if manual is not None:
        ticket = _render(
            manual.jira.model_dump(exclude_none=True), ("fulfillment", "manual", "jira"), context
        )
        plan["fallback_jira" if automated else "jira"] = ticket
    if automated is not None:
        plan["steps"] = [
            _step(step, ("fulfillment", "automated", "steps", index), context)
            for index, step in enumerate(automated.steps)
        ]
        plan["outputs"] = _render(
            automated.outputs, ("fulfillment", "automated", "outputs"), context
        )
        plan["fallback_to_manual"] = automated.fallback_to_manual
    return plan


def _render(value: Any, path: Path_, context: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return {k: _render(v, (*path, k), context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render(v, (*path, i), context) for i, v in enumerate(value)]
    try:
        return _plain(render(value, context))
    except TemplateError as exc:
        raise RenderError(path, str(exc)) from None


def _decide(expr: str, path: Path_, context: Mapping[str, Any]) -> bool | str:
    if any(ref[0] == "steps" for ref in referenced_variables(expr, expression=True)):
        return "decided at run time (reads step outputs)"
    try:
        return evaluate(expr, context)
    except TemplateError as exc:
        raise RenderError(path, str(exc)) from None


def _change_class(item: CatalogItem, context: Mapping[str, Any]) -> str:
    try:
        return item.change_class.of(context)
    except TemplateError as exc:
        raise RenderError(("change_class",), str(exc)) from None


def _approval(item: CatalogItem, context: Mapping[str, Any]) -> dict[str, Any]:
    """Whether approval is asked and who decides each stage (``pao_common.approvals``, as
    the orchestrator resolves them); ``approver_*`` are the first stage's, and
    ``problem`` says why the request would be refused (a stage nobody can complete)."""
    approval = item.approval
    required: bool | str = approval.required
    if approval.required and approval.when is not None:
        required = _decide(approval.when, ("approval", "when"), context)
    user = context["user"]
    requester = Requester(
        id=str(user.get("id") or "someone"),
        teams=tuple(user.get("teams") or ()),
        manager=user.get("manager"),
    )
    owner = approvals.provisioning_owner_team(
        item.resource.owner_input, context["inputs"], requester
    )
    stages = []
    for number, (spec, rule) in enumerate(
        zip(approval.effective_stages(), approvals.stage_rules(approval), strict=True), start=1
    ):
        resolved = approvals.resolve_stage(
            rule, number=number, requester=requester, owner_team=owner
        )
        stages.append(
            {
                "name": spec.name,
                "rule": spec.rule,
                "n": spec.n,
                "approver_teams": list(resolved.teams),
                "approver_users": list(resolved.users),
                "expires_after": spec.expires_after,
                "problem": resolved.problem,
            }
        )
    first = stages[0]
    return {
        "required": required,
        "approver_teams": first["approver_teams"],
        "approver_users": first["approver_users"],
        "requester_manager": any(r.requester_manager for r in approvals.stage_rules(approval)),
        "expires_after": approval.effective_stages()[0].expires_after,
        "expires_after_s": approval.effective_stages()[0].expires_after_s,
        "stages": stages,
        "problem": None
        if required is False
        else next((s["problem"] for s in stages if s["problem"]), None),
    }


def _step(step: Step, path: Path_, context: Mapping[str, Any]) -> dict[str, Any]:
    runs: bool | str = True
    if step.when is not None:
        runs = _decide(step.when, (*path, "when"), context)
    rendered: dict[str, Any] = {
        "id": step.id,
        "action": step.action,
        "runs": runs,
        "with": _render(step.with_, (*path, "with"), context) if runs is not False else None,
        "retry": step.retry.model_dump(),
        "timeout_s": step.timeout_s,
    }
    if step.rollback is not None:
        rendered["rollback"] = {
            "action": step.rollback.action,
            "with": _render(step.rollback.with_, (*path, "rollback", "with"), context)
            if runs is not False
            else None,
        }
    return rendered

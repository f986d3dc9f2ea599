"""A catalog item (schema v2.0) as typed, frozen pydantic models.

The JSON Schema in ``schema/catalog-v2.0.schema.json`` is the published contract and is
checked first (it gives file:line errors); these models are what code reads afterwards.
``parse_item`` turns an already loaded document into a ``CatalogItem``; to read a file
with full validation use ``pao_catalog_model.loader.load_file``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pao_common import templating
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from pao_catalog_model.errors import InvalidCatalogDocument
from pao_catalog_model.retry import RetryPolicy

SCHEMA_VERSION = "2.0"

FieldType = Literal[
    "string",
    "text",
    "integer",
    "number",
    "boolean",
    "select",
    "multiselect",
    "email",
    "url",
    "date",
    "datetime",
    "secret",
    "list",
    "keyvalue",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- metadata and access -------------------------------------------------------------------


class DocLink(_Model):
    title: str
    url: str


class Metadata(_Model):
    id: str
    name: str
    version: str
    owner: str
    category: str
    tags: tuple[str, ...] = ()
    description: str = ""
    docs: tuple[DocLink, ...] = ()
    lifecycle: Literal["active", "deprecated", "retired"] = "active"
    replaced_by: str | None = None
    # How long the same thing took before PAO ("14d"): the lead-time report's baseline.
    baseline_lead_time: str | None = None


class Access(_Model):
    """Who may request the item; both empty means everyone."""

    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def allows(
        self, teams: tuple[str, ...] | list[str], roles: tuple[str, ...] | list[str]
    ) -> bool:
        if not self.teams and not self.roles:
            return True
        return bool(set(teams) & set(self.teams) or set(roles) & set(self.roles))


# --- presentation ---------------------------------------------------------------------------


class Option(_Model):
    value: str | int | float | bool
    label: str | None = None


class OptionsSource(_Model):
    """Options a portal loads from a URL (the server cannot enumerate them)."""

    url: str
    value_key: str = "value"
    label_key: str = "label"


class Rules(_Model):
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    multiple_of: float | None = None
    pattern: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    messages: dict[str, str] = Field(default_factory=dict)


class Condition(_Model):
    """``{field, equals | not_equals | in | not_in | contains}`` or ``all`` / ``any`` of them."""

    field: str | None = None
    equals: Any = None
    not_equals: Any = None
    in_: tuple[Any, ...] | None = Field(None, alias="in")
    not_in: tuple[Any, ...] | None = None
    contains: Any = None
    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None

    def operator(self) -> str:
        """The comparison this condition makes (for a leaf condition)."""
        for name in ("equals", "not_equals", "in", "not_in", "contains"):
            if name in self.model_fields_set or (name == "in" and "in_" in self.model_fields_set):
                return name
        return "all" if self.all is not None else "any"

    def fields(self) -> Iterator[str]:
        """Every field id this condition reads."""
        if self.field is not None:
            yield self.field
        for child in (*(self.all or ()), *(self.any or ())):
            yield from child.fields()


class FormField(_Model):
    id: str
    type: FieldType
    label: str
    help: str | None = None
    placeholder: str | None = None
    default: Any = None
    required: bool = False
    options: tuple[Option, ...] = ()
    options_from: OptionsSource | None = None
    validation: Rules = Field(default_factory=Rules)
    visible_if: Condition | None = None
    required_if: Condition | None = None
    fields: tuple[FormField, ...] = ()  # the columns of a ``list`` field
    read_only: bool = False

    @field_validator("options", mode="before")
    @classmethod
    def _scalar_options(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [v if isinstance(v, dict) else {"value": v} for v in value]
        return value

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


class Section(_Model):
    id: str
    title: str
    description: str | None = None
    fields: tuple[FormField, ...]


class Presentation(_Model):
    """Fields, either flat (``fields``) or grouped (``sections``, shown as ``layout``)."""

    layout: Literal["single", "sections", "pages"] = "single"
    fields: tuple[FormField, ...] = ()
    sections: tuple[Section, ...] = ()

    def all_fields(self) -> tuple[FormField, ...]:
        return self.fields + tuple(f for section in self.sections for f in section.fields)

    def field(self, field_id: str) -> FormField | None:
        return next((f for f in self.all_fields() if f.id == field_id), None)


# --- approval -------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """``"72h"`` -> 259200."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like 30m, 72h or 7d: {text!r}")
    return int(match["n"]) * _SECONDS[match["unit"]]


class Approvers(_Model):
    teams: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    requester_manager: bool = False
    # the team that owns the resource (an operation's resource, or the one being provisioned)
    resource_owner_team: bool = False

    @property
    def named(self) -> bool:
        return bool(self.teams or self.users or self.requester_manager or self.resource_owner_team)


class ApprovalStage(_Model):
    """One stage of a staged approval: its approvers, how many must approve, its expiry."""

    name: str | None = None
    approvers: Approvers = Field(default_factory=Approvers)
    rule: Literal["any", "all", "n"] = "any"
    n: int | None = Field(None, ge=1)
    expires_after: str = "72h"

    @property
    def expires_after_s(self) -> int:
        return duration_seconds(self.expires_after)


class Approval(_Model):
    """``approval:`` is either one rule (a mapping) or a list of stages decided in order."""

    required: bool = False
    when: str | None = None
    approvers: Approvers = Field(default_factory=Approvers)
    expires_after: str = "72h"
    reason: str | None = None
    stages: tuple[ApprovalStage, ...] = ()

    # True when the document wrote the list form (error paths are then approval.<i>...)
    _listed: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _stage_list(cls, value: Any, handler: ModelWrapValidatorHandler[Approval]) -> Approval:
        if isinstance(value, list):
            model = handler({"required": True, "stages": value})
            model._listed = True
            return model
        return handler(value)

    def stage_path(self, index: int) -> tuple[str | int, ...]:
        """Where stage ``index`` is in the document."""
        return ("approval", index) if self._listed else ("approval", "stages", index)

    @property
    def expires_after_s(self) -> int:
        return duration_seconds(self.expires_after)

    def effective_stages(self) -> tuple[ApprovalStage, ...]:
        """The stages in order; the single-rule form is one ``any`` stage."""
        if self.stages:
            return self.stages
        return (ApprovalStage(approvers=self.approvers, expires_after=self.expires_after),)


# --- change class ---------------------------------------------------------------------------

ChangeClassName = Literal["standard", "normal", "major"]


class ChangeClassRule(_Model):
    when: str
    class_: ChangeClassName = Field(alias="class")


class ChangeClass(_Model):
    """``change_class: major``, or ``{default: normal, rules: [{when: ..., class: major}]}``:
    the first rule whose ``when`` (an expression like ``approval.when``) is true gives the
    class, else ``default``. Absent: ``standard`` (pre-approved)."""

    default: ChangeClassName = "standard"
    rules: tuple[ChangeClassRule, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _name_only(cls, value: Any) -> Any:
        return {"default": value} if isinstance(value, str) else value

    def of(self, context: Mapping[str, Any]) -> ChangeClassName:
        """The class for a request whose template context is ``context`` (``TemplateError``
        when a rule's ``when`` does not evaluate)."""
        for rule in self.rules:
            if templating.evaluate(rule.when, dict(context)):
                return rule.class_
        return self.default

    def summary(self) -> dict[str, Any]:
        """As the catalog API shows it: the default, the rules and every class it can give."""
        classes = dict.fromkeys([*(r.class_ for r in self.rules), self.default])
        return {
            "default": self.default,
            "rules": [{"when": r.when, "class": r.class_} for r in self.rules],
            "possible": [c for c in ("standard", "normal", "major") if c in classes],
        }


# --- fulfillment ----------------------------------------------------------------------------


class JiraTicket(_Model):
    """A JIRA ticket; every string is a template."""

    project: str
    issue_type: str = "Task"
    summary: str
    description: str = ""
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    priority: str | None = None
    assignee: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class Manual(_Model):
    jira: JiraTicket


class Rollback(_Model):
    """The compensation of a step; ``action`` defaults to the step's own."""

    action: str = ""
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    timeout_s: float | None = None


class Step(_Model):
    id: str
    name: str | None = None
    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_s: float = 300.0
    rollback: Rollback | None = None

    @model_validator(mode="after")
    def _rollback_action(self) -> Step:
        if self.rollback is not None and not self.rollback.action:
            object.__setattr__(
                self, "rollback", self.rollback.model_copy(update={"action": self.action})
            )
        return self


class Automated(_Model):
    steps: tuple[Step, ...]
    outputs: dict[str, Any] = Field(default_factory=dict)
    fallback_to_manual: bool = False

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


class Fulfillment(_Model):
    mode: Literal["manual", "automated"]
    manual: Manual | None = None
    automated: Automated | None = None


# --- resources and day-2 operations -------------------------------------------------------

DECOMMISSION = "decommission"


# CI columns the CMDB sync writes itself: a mapping may not set them.
CMDB_MANAGED_FIELDS = frozenset({"install_status"})
CMDB_CORRELATION_FIELD = "correlation_id"


class CmdbMapping(_Model):
    """How the item's resources appear in a CMDB: the CI class (ServiceNow table) and its
    fields, each a template over ``resource`` (id, name, owner_team, inputs, outputs...).
    The CI is found again by ``correlation_field``, which holds the resource id."""

    ci_class: str
    fields: dict[str, str] = Field(default_factory=dict)
    correlation_field: str = CMDB_CORRELATION_FIELD


class ResourceSpec(_Model):
    """What the item's resources are called and who owns them."""

    name: str | None = None  # a template; default: "<item id>-<first 8 of the resource id>"
    owner_input: str | None = None  # a field whose value is the owner team; default: requester's
    cmdb: CmdbMapping | None = None


class Operation(_Model):
    """A day-2 operation on a resource of this item (``update``, ``decommission``,
    ``rotate-credentials`` or the team's own): its own form, approval, access and binary
    fulfilment; its templates also see ``resource`` (id, name, owner_team, inputs, outputs)."""

    id: str
    title: str
    description: str = ""
    presentation: Presentation = Field(default_factory=Presentation)
    approval: Approval = Field(default_factory=Approval)
    access: Access | None = None  # None: the item's access
    change_class: ChangeClass = Field(default_factory=ChangeClass)  # not the item's
    fulfillment: Fulfillment


# --- examples and the item ------------------------------------------------------------------


class ExampleUser(_Model):
    id: str
    email: str | None = None
    name: str | None = None
    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    manager: str | None = None


class ExpectedError(_Model):
    field: str | None
    message: str = ""


class StepExpectation(_Model):
    runs: bool | str | None = None
    with_: dict[str, Any] | None = Field(None, alias="with")
    rollback: dict[str, Any] | None = None


class Expectation(_Model):
    """What an example should give in preview; ``pao catalog test`` checks it."""

    errors: tuple[ExpectedError, ...] | None = None
    approval: bool | str | None = None
    change_class: ChangeClassName | None = None
    jira: dict[str, Any] | None = None
    fallback_jira: dict[str, Any] | None = None
    steps: dict[str, StepExpectation] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None

    @property
    def invalid(self) -> bool:
        """The example's inputs are invalid on purpose."""
        return self.errors is not None


class Example(_Model):
    name: str
    description: str | None = None
    user: ExampleUser
    inputs: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation | None = None

    @property
    def expects_errors(self) -> bool:
        return self.expect is not None and self.expect.invalid


class CatalogItem(_Model):
    schema_version: Literal["2.0"] = Field(alias="schemaVersion")
    metadata: Metadata
    access: Access = Field(default_factory=Access)
    presentation: Presentation = Field(default_factory=Presentation)
    approval: Approval = Field(default_factory=Approval)
    change_class: ChangeClass = Field(default_factory=ChangeClass)
    fulfillment: Fulfillment
    resource: ResourceSpec = Field(default_factory=ResourceSpec)
    operations: tuple[Operation, ...] = ()
    examples: tuple[Example, ...] = ()

    @property
    def id(self) -> str:
        return self.metadata.id

    @property
    def version(self) -> str:
        return self.metadata.version

    def example(self, name: str) -> Example | None:
        return next((e for e in self.examples if e.name == name), None)

    def operation(self, operation_id: str) -> Operation | None:
        return next((o for o in self.operations if o.id == operation_id), None)

    @property
    def decommissionable(self) -> bool:
        return self.operation(DECOMMISSION) is not None

    def to_document(self) -> dict[str, Any]:
        """The item as a JSON-ready document (aliases, no unset defaults)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def parse_item(document: dict[str, Any]) -> CatalogItem:
    """A ``CatalogItem`` from a document; ``InvalidCatalogDocument`` lists what is wrong.

    This checks the model's shape only; ``pao_catalog_model.validation.validate_document`` checks
    the JSON Schema and the meaning (variables, action types, examples).
    """
    try:
        return CatalogItem.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or '<document>'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise InvalidCatalogDocument(problems) from None

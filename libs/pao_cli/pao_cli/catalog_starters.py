"""Starting points of ``pao catalog new``: a valid, commented item from a few answers.

A starter knows one way of fulfilling a request (a JIRA ticket, a Terraform run, a
GitHub workflow, a REST call) and writes its fulfilment from the item's own fields, so
whatever fields the author chooses, every template reads fields that exist and the
generated example exercises all of them. ``copy_item`` starts from an existing item
instead. Everything here is pure: the command asks the questions, these build the text.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

import yaml
from pao_catalog_model.model import FieldType

ITEM_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
FIELD_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
OWNER = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
CATEGORY = re.compile(r"^[a-z0-9][a-z0-9-]*$")

#: Field types ``new`` can write without more questions: all but ``list`` (it needs its
#: columns).
NEW_FIELD_TYPES: tuple[str, ...] = tuple(t for t in get_args(FieldType) if t != "list")
TEXT_TYPES = frozenset({"string", "text", "email", "url", "date", "datetime", "secret", "select"})


class StarterError(ValueError):
    """An answer ``new`` cannot build a valid item from; the message says which and why."""


def check_item_id(value: str) -> str:
    if len(value) > 63 or not ITEM_ID.match(value):
        raise StarterError(
            f"item id {value!r}: lower-case letters and digits in dash-separated words, "
            "starting with a letter, at most 63 characters (e.g. object-bucket)"
        )
    return value


def check_field_id(value: str) -> str:
    if not FIELD_ID.match(value):
        raise StarterError(
            f"field id {value!r}: a lower-case letter, then letters, digits or underscores "
            "(at most 63), e.g. db_name"
        )
    return value


def check_owner(value: str) -> str:
    if not OWNER.match(value):
        raise StarterError(f"owner {value!r}: a team name like data-platform (lower case)")
    return value


def check_category(value: str) -> str:
    if not CATEGORY.match(value):
        raise StarterError(f"category {value!r}: lower case, digits and dashes, e.g. databases")
    return value


@dataclass(frozen=True)
class NewField:
    """One field of the form, as ``--field ID[:TYPE[:LABEL[:OPTIONS]]]`` gives it."""

    id: str
    type: str = "string"
    label: str = ""
    required: bool = False
    options: tuple[str, ...] = ()
    default: Any = None
    help: str | None = None

    def __post_init__(self) -> None:
        check_field_id(self.id)
        if self.type not in NEW_FIELD_TYPES:
            hint = " (write a list's columns by hand)" if self.type == "list" else ""
            raise StarterError(
                f"field {self.id}: unknown type {self.type!r}{hint}; one of "
                + ", ".join(NEW_FIELD_TYPES)
            )
        if self.type in ("select", "multiselect") and not self.options:
            raise StarterError(f"field {self.id}: a {self.type} needs options (a,b,c)")
        if self.options and self.type not in ("select", "multiselect"):
            raise StarterError(f"field {self.id}: only select and multiselect take options")
        if len(set(self.options)) != len(self.options):
            raise StarterError(f"field {self.id}: options repeat")
        if not self.label:
            object.__setattr__(self, "label", default_label(self.id))

    @classmethod
    def parse(cls, spec: str, *, required: bool = False) -> NewField:
        """``db_name``, ``size:select:Size:small,medium`` or ``until:date:Needed until``."""
        parts = spec.split(":", 3)
        field_id = parts[0].strip()
        field_type = parts[1].strip() if len(parts) > 1 and parts[1].strip() else "string"
        label = parts[2].strip() if len(parts) > 2 else ""
        options = (
            tuple(o.strip() for o in parts[3].split(",") if o.strip()) if len(parts) > 3 else ()
        )
        return cls(field_id, field_type, label, required, options)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "type": self.type, "label": self.label}
        if self.help:
            doc["help"] = self.help
        if self.required:
            doc["required"] = True
        if self.options:
            doc["options"] = list(self.options)
        if self.default is not None:
            doc["default"] = self.default
        return doc

    @property
    def always_set(self) -> bool:
        """The value exists in every request (required, or filled from a default)."""
        return self.required or self.default is not None

    def value(self) -> str:
        """A template giving the value itself (its type kept); ``none`` when left out."""
        if self.always_set:
            return f"{{{{ inputs.{self.id} }}}}"
        return f"{{{{ inputs.{self.id} | default(none) }}}}"

    def text(self) -> str:
        """A template giving the value as text (for ticket bodies and workflow inputs)."""
        ref = f"inputs.{self.id}"
        if self.type == "multiselect":
            return f"{{{{ {ref} | default([]) | join(', ') }}}}"
        if self.type == "keyvalue":
            return f"{{{{ {ref} | default({{}}) | to_json }}}}"
        if self.type in TEXT_TYPES and self.always_set:
            return f"{{{{ {ref} }}}}"
        if self.type in TEXT_TYPES:
            return f"{{{{ {ref} | default('') }}}}"
        return f"{{{{ {ref} | default('') | string }}}}"

    def sample(self) -> Any:
        """A value that passes the field, for the generated example."""
        if self.options:
            return [self.options[0]] if self.type == "multiselect" else self.options[0]
        samples: dict[str, Any] = {
            "string": "example-" + self.id.replace("_", "-"),
            "text": "A few words of explanation.",
            "integer": 1,
            "number": 1.5,
            "boolean": True,
            "email": "alice@example.com",
            "url": "https://example.com/docs",
            "date": "2030-01-31",
            "datetime": "2030-01-31T09:00:00Z",
            "secret": "example-secret-value",
            "keyvalue": {"team": "example"},
        }
        return samples[self.type]


def default_label(field_id: str) -> str:
    return field_id.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Setting:
    """A question a starter asks about its fulfilment, with its default."""

    key: str
    prompt: str
    default: Callable[[Answers], str]
    help: str = ""


@dataclass
class Answers:
    """Everything ``new`` asked; ``settings`` holds the starter's own answers."""

    item_id: str
    name: str
    owner: str
    category: str
    description: str
    fields: list[NewField]
    settings: dict[str, str] = field(default_factory=dict)


ENVIRONMENTS = ("dev", "staging", "production")


@dataclass(frozen=True)
class Starter:
    """One way of fulfilling requests, with the fields a team usually starts from."""

    name: str
    summary: str
    category: str
    fields: tuple[NewField, ...]
    settings: tuple[Setting, ...]
    fulfillment: Callable[[Answers], dict[str, Any]]
    comment: str


def _ticket_description(answers: Answers) -> str:
    lines = ["Requested by {{ user.name or user.id }} ({{ user.email or user.id }})."]
    lines += [f"{f.label.rstrip('?:')}: {f.text()}" for f in answers.fields if f.type != "secret"]
    lines.append("Request: {{ request.url }}")
    return "\n".join(lines) + "\n"


def _first_text_field(answers: Answers) -> NewField | None:
    return next(
        (f for f in answers.fields if f.always_set and f.type in ("string", "select")), None
    )


def _manual_jira(answers: Answers) -> dict[str, Any]:
    subject = _first_text_field(answers)
    about = f" {subject.text()}" if subject else ""
    return {
        "mode": "manual",
        "manual": {
            "jira": {
                "project": answers.settings["jira_project"],
                "issue_type": answers.settings["issue_type"],
                "summary": f"{answers.name}{about} for {{{{ user.id }}}}",
                "description": _ticket_description(answers),
                "labels": ["pao", answers.item_id],
            }
        },
    }


def _terraform(answers: Answers) -> dict[str, Any]:
    workspace = answers.settings["workspace"]
    step: dict[str, Any] = {
        "id": "apply",
        "name": "Terraform plan and apply",
        "action": "terraform",
        "with": {
            "workspace": workspace,
            "message": f"PAO {{{{ request.id }}}}: {answers.name} for {{{{ user.id }}}}",
            "variables": {f.id: f.value() for f in answers.fields if f.type != "secret"},
        },
        "retry": {"attempts": 2, "backoff_s": 30, "max_backoff_s": 120},
        "timeout_s": 1800,
        "rollback": {"with": {"workspace": workspace}},
    }
    if answers.settings.get("organization"):
        step["with"]["organization"] = answers.settings["organization"]
    return {
        "mode": "automated",
        "automated": {
            "steps": [step],
            "outputs": {
                "workspace": workspace,
                "run_url": "{{ steps.apply.outputs.run_url }}",
            },
        },
    }


def _github_workflow(answers: Answers) -> dict[str, Any]:
    where = {
        "owner": answers.settings["github_owner"],
        "repo": answers.settings["github_repo"],
    }
    inputs = {f.id: f.text() for f in answers.fields if f.type != "secret"}
    inputs["requested_by"] = "{{ user.id }}"
    inputs["pao_request"] = "{{ request.id }}"
    step = {
        "id": "run_workflow",
        "name": f"Run {answers.settings['workflow']}",
        "action": "github-workflow",
        "with": {
            **where,
            "workflow": answers.settings["workflow"],
            "ref": answers.settings["ref"],
            "inputs": inputs,
        },
        "retry": {"attempts": 2, "backoff_s": 10, "max_backoff_s": 60},
        "timeout_s": 900,
    }
    return {
        "mode": "automated",
        "automated": {
            "steps": [step],
            "outputs": {"workflow_run": "{{ steps.run_workflow.outputs.run_url }}"},
        },
    }


def _rest(answers: Answers) -> dict[str, Any]:
    url = answers.settings["url"]
    step = {
        "id": "call_api",
        "name": f"{answers.settings['method']} {url.split('{{')[0]}",
        "action": "rest",
        "with": {
            "method": answers.settings["method"],
            "url": url,
            "headers": {"Authorization": f"Bearer {{{{ secret('{answers.item_id}/api-token') }}}}"},
            "json": {
                **{f.id: f.value() for f in answers.fields if f.type != "secret"},
                "requested_by": "{{ user.id }}",
                "pao_request": "{{ request.id }}",
            },
            "expected_status": [200, 201, 202],
            "outputs": {"id": "$.id"},
        },
        "retry": {"attempts": 3, "backoff_s": 2, "max_backoff_s": 20},
        "timeout_s": 60,
        "rollback": {
            "with": {
                "method": "DELETE",
                "url": url.rstrip("/") + "/{{ steps.call_api.outputs.id }}",
                "headers": {
                    "Authorization": f"Bearer {{{{ secret('{answers.item_id}/api-token') }}}}"
                },
            }
        },
    }
    return {
        "mode": "automated",
        "automated": {"steps": [step], "outputs": {"id": "{{ steps.call_api.outputs.id }}"}},
    }


def _environment(required: bool = True) -> NewField:
    return NewField("environment", "select", "Environment", required=required, options=ENVIRONMENTS)


STARTERS: dict[str, Starter] = {
    s.name: s
    for s in (
        Starter(
            "manual-jira",
            "a JIRA ticket your team works by hand; the request completes when it is resolved",
            "general",
            (
                NewField("details", "text", "What do you need?", required=True),
                _environment(),
                NewField("needed_by", "date", "Needed by"),
            ),
            (
                Setting("jira_project", "JIRA project key", lambda a: "OPS"),
                Setting("issue_type", "JIRA issue type", lambda a: "Task"),
            ),
            _manual_jira,
            "Manual fulfilment: PAO opens this JIRA ticket (every string is a template) and\n"
            "the request completes when the ticket is resolved.",
        ),
        Starter(
            "terraform",
            "a Terraform run (plan and apply) in a workspace; rollback destroys it",
            "infrastructure",
            (
                NewField("name", "string", "Name", required=True),
                _environment(),
                NewField(
                    "size",
                    "select",
                    "Size",
                    options=("small", "medium", "large"),
                    default="small",
                ),
            ),
            (
                Setting(
                    "workspace",
                    "Terraform workspace (a template)",
                    lambda a: f"{a.item_id}-{{{{ request.id }}}}",
                ),
                Setting(
                    "organization",
                    "Terraform Cloud organization (empty: the executor's)",
                    lambda a: "",
                ),
            ),
            _terraform,
            "Automated fulfilment: one Terraform run; its variables are the form's fields.\n"
            "When a later step fails, rollback destroys the workspace's resources.",
        ),
        Starter(
            "github-workflow",
            "a GitHub Actions workflow (workflow_dispatch) and its run",
            "source-control",
            (
                NewField("name", "string", "Name", required=True),
                NewField(
                    "visibility",
                    "select",
                    "Visibility",
                    options=("private", "internal"),
                    default="private",
                ),
            ),
            (
                Setting("github_owner", "GitHub owner (organization)", lambda a: "acme"),
                Setting(
                    "github_repo",
                    "Repository holding the workflow",
                    lambda a: "platform-automation",
                ),
                Setting("workflow", "Workflow file", lambda a: f"{a.item_id}.yml"),
                Setting("ref", "Branch or tag to run it on", lambda a: "main"),
            ),
            _github_workflow,
            "Automated fulfilment: dispatch the workflow (its workflow_dispatch inputs are\n"
            "strings) and wait for its run; run_url links to it.",
        ),
        Starter(
            "rest",
            "a call to your team's HTTP API; rollback deletes what it created",
            "general",
            (NewField("name", "string", "Name", required=True), _environment()),
            (
                Setting("method", "HTTP method", lambda a: "POST"),
                Setting(
                    "url",
                    "URL (a template)",
                    lambda a: f"https://api.example.com/v1/{a.item_id}",
                ),
            ),
            _rest,
            "Automated fulfilment: one REST call; outputs are JSONPaths into the response.\n"
            "The token is a secret reference: only the executor resolves it.",
        ),
    )
}


def build_document(starter: Starter, answers: Answers) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": "2.0",
        "metadata": {
            "id": answers.item_id,
            "name": answers.name,
            "version": "0.1.0",
            "owner": answers.owner,
            "category": answers.category,
            "description": answers.description
            or f"{answers.name}, fulfilled by {starter.summary}.",
        },
    }
    if answers.fields:
        doc["presentation"] = {"fields": [f.document() for f in answers.fields]}
    doc["fulfillment"] = starter.fulfillment(answers)
    doc["examples"] = [
        {
            "name": "basic",
            "description": "A typical request (pao catalog preview FILE --example basic)",
            "user": {"id": "alice", "email": "alice@example.com", "teams": [answers.owner]},
            "inputs": {f.id: f.sample() for f in answers.fields},
        }
    ]
    return doc


def copy_item(source: Mapping[str, Any], item_id: str, name: str, owner: str) -> dict[str, Any]:
    """An existing item under a new id, name and owner, at version 0.1.0."""
    doc = copy.deepcopy(dict(source))
    metadata = dict(doc.get("metadata") or {})
    metadata.update({"id": item_id, "name": name, "version": "0.1.0", "owner": owner})
    for key in ("replaced_by", "lifecycle"):
        metadata.pop(key, None)
    doc["metadata"] = metadata
    return doc


# --- the text: YAML with comments a first-time author can follow ------------------------------

SECTION_COMMENTS = {
    "metadata": "What the item is. The id is stable and unique in the catalog; bump version on\n"
    "every change (the catalog refuses a changed document under a published version).",
    "presentation": "The request form: one field per thing the requester decides. Field types,\n"
    "rules (validation:) and conditions (visible_if:): docs/catalog-schema.md#fields",
    "examples": "Sample requests. `pao catalog validate` checks each against the form and\n"
    "renders every template with it; `pao catalog preview FILE --example NAME` shows them.",
}

ABSENT_HINTS = {
    "access": "# Who may request it (absent: everyone):\n"
    "# access: {teams: [payments], roles: [sre]}",
    "approval": "# Wait for an approval first (absent: no approval):\n"
    "# approval: {required: true, approvers: {requester_manager: true}, expires_after: 72h}",
}


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists, as the shipped catalog reads; multi-line strings
    (ticket descriptions) as literal blocks, short lists of scalars on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    scalars = all(isinstance(v, str | int | float | bool) and "\n" not in str(v) for v in value)
    short = scalars and sum(len(str(v)) + 2 for v in value) <= 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=short)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def _dump(value: Mapping[str, Any]) -> str:
    return yaml.dump(
        dict(value),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def _comment(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())


def render_document(
    doc: Mapping[str, Any],
    *,
    schema_url: str,
    header: str,
    fulfillment_comment: str = "",
) -> str:
    """The document as YAML, each section under a comment saying what it is for.

    The first line points editors (VS Code's YAML extension, any yaml-language-server)
    at the published JSON Schema, so they complete and check fields while typing.
    """
    parts = [f"# yaml-language-server: $schema={schema_url}\n", _comment(header)]
    comments = dict(SECTION_COMMENTS)
    if fulfillment_comment:
        comments["fulfillment"] = fulfillment_comment
    for key, value in doc.items():
        if key == "fulfillment":
            for absent, hint in ABSENT_HINTS.items():
                if absent not in doc:
                    parts.append("\n" + hint + "\n")
        parts.append("\n")
        if key in comments:
            parts.append(_comment(comments[key]))
        parts.append(_dump({key: value}))
    return "".join(parts)

"""The notification policy document: who hears about which request, over which channel.

``catalog/_policies/notifications.yaml`` (``PAO_NOTIFICATIONS_POLICY``) names per team its
e-mail addresses and chat webhooks, per item (or by default) which triggers are sent to
whom, an address directory for approvers named by user id, and the message templates.
It is validated when it loads, like a catalog item: every problem is reported with
``file:line``, and a template that reaches for internals (``__class__``, ``attr()``,
``mro``...) or reads an unknown variable is refused then, not when a request runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

import yaml
from jinja2 import nodes
from pao_common import templating
from pao_common.change_calendar import yaml_lines
from pao_common.errors import TemplateError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pao_notifier.errors import InvalidPolicy

Trigger = Literal[
    "awaiting_approval",
    "completed",
    "failed",
    "rolled_back",
    "scheduled",
    "released",
    "awaiting_change_approval",
    "change_approved",
    "change_rejected",
]
TRIGGERS: tuple[str, ...] = get_args(Trigger)
# What a template may read: the request, its requester, the event's own data, the system.
TEMPLATE_ROOTS = frozenset({"request", "user", "event", "system"})
# Attributes that lead out of the data into Python internals (the sandbox refuses them
# when rendering too; here they are refused when the policy loads).
_UNSAFE_ATTRIBUTES = frozenset(
    {"mro", "format", "format_map", "gi_frame", "gi_code", "f_globals", "f_locals", "co_code"}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ChatHook(_Model):
    name: str
    url: str = Field(pattern=r"^https?://")
    format: Literal["slack", "teams"] = "slack"


class TeamChannels(_Model):
    email: tuple[str, ...] = ()
    chat: tuple[ChatHook, ...] = ()


class Routing(_Model):
    """Which triggers are sent, and to whom besides the approvers of an approval stage.

    ``email`` entries are addresses or ``requester`` (the requester's address) or
    ``team:<name>`` (that team's channels, chat included).
    """

    triggers: tuple[Trigger, ...] = (
        "awaiting_approval",
        "completed",
        "failed",
        "rolled_back",
        "awaiting_change_approval",
        "change_approved",
        "change_rejected",
    )
    email: tuple[str, ...] = ("requester",)
    chat: tuple[ChatHook, ...] = ()


class Directory(_Model):
    users: dict[str, str] = Field(default_factory=dict)
    email_domain: str | None = None

    def address(self, user_id: str) -> str | None:
        if user_id in self.users:
            return self.users[user_id]
        if "@" in user_id:
            return user_id
        return f"{user_id}@{self.email_domain}" if self.email_domain else None


class Template(_Model):
    subject: str
    body: str


DEFAULT_TEMPLATES: dict[str, Template] = {
    "awaiting_approval": Template(
        subject="[PAO] {{ request.item_id }} by {{ user.id }} awaits your approval",
        body=(
            "{{ user.name or user.id }} requested {{ request.item_id }} ({{ request.id }}).\n"
            "{% if event.stage_name %}Stage: {{ event.stage_name }}. {% endif %}"
            "Decide before {{ event.expires_at }}: {{ request.url }}\n"
        ),
    ),
    "completed": Template(
        subject="[PAO] {{ request.item_id }} {{ request.id }} completed",
        body="Your request {{ request.id }} for {{ request.item_id }} completed.\n"
        "{{ request.url }}\n",
    ),
    "failed": Template(
        subject="[PAO] {{ request.item_id }} {{ request.id }} failed",
        body="Your request {{ request.id }} failed: {{ event.error }}\n{{ request.url }}\n",
    ),
    "rolled_back": Template(
        subject="[PAO] {{ request.item_id }} {{ request.id }} was rolled back",
        body="Your request {{ request.id }} failed and what it did was undone.\n"
        "{{ request.url }}\n",
    ),
    "scheduled": Template(
        subject="[PAO] {{ request.item_id }} {{ request.id }} is held by a change freeze",
        body="Your {{ event.change_class }} change {{ request.id }} waits for the change window"
        " {{ event.window }} to end; it starts by itself at {{ event.until }}.\n"
        "{{ request.url }}\n",
    ),
    "released": Template(
        subject="[PAO] {{ request.item_id }} {{ request.id }} was released",
        body="Your request {{ request.id }} left the change window {{ event.window }}"
        " and runs now.\n"
        "{{ request.url }}\n",
    ),
    "awaiting_change_approval": Template(
        subject="[PAO] {{ request.item_id }} {{ request.id }} waits for change request"
        " {{ event.number }}",
        body="Change request {{ event.number }} was opened for your request {{ request.id }};"
        " it runs once the change request is approved.\n"
        "{% if event.url %}Change request: {{ event.url }}\n{% endif %}"
        "{{ request.url }}\n",
    ),
    "change_approved": Template(
        subject="[PAO] change request {{ event.number }} for {{ request.id }} was approved",
        body="Change request {{ event.number }} was approved"
        "{% if event.by %} by {{ event.by }}{% endif %}"
        "{% if event.comment %}: {{ event.comment }}{% endif %}."
        " Your request {{ request.id }} runs now.\n"
        "{{ request.url }}\n",
    ),
    "change_rejected": Template(
        subject="[PAO] change request {{ event.number }} for {{ request.id }} was rejected",
        body="Change request {{ event.number }} was rejected"
        "{% if event.by %} by {{ event.by }}{% endif %}"
        "{% if event.comment %}: {{ event.comment }}{% endif %}."
        " Your request {{ request.id }} will not run.\n"
        "{{ request.url }}\n",
    ),
}


class NotificationPolicy(_Model):
    schema_version: Literal["1.0"] = Field("1.0", alias="schemaVersion")
    kind: Literal["NotificationPolicy"] = "NotificationPolicy"
    sender: str = Field("pao@localhost", alias="from")
    directory: Directory = Field(default_factory=Directory)
    teams: dict[str, TeamChannels] = Field(default_factory=dict)
    defaults: Routing = Field(default_factory=Routing)
    items: dict[str, Routing] = Field(default_factory=dict)
    templates: dict[Trigger, Template] = Field(default_factory=dict)

    def routing(self, item_id: str) -> Routing:
        return self.items.get(item_id, self.defaults)

    def template(self, trigger: str) -> Template:
        own = {str(k): v for k, v in self.templates.items()}
        return own.get(trigger) or DEFAULT_TEMPLATES[trigger]


# --- checks -----------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def template_problems(source: str) -> list[str]:
    """Why a message template may not be used (empty: it may)."""
    try:
        tree = templating.parse(source)
        paths = templating.referenced_variables(source)
    except TemplateError as exc:
        return [str(exc)]
    problems = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            problems.append("the attr filter reaches past the data: not allowed")
        elif isinstance(node, nodes.Name) and node.name.startswith("_"):
            name = node.name
        if isinstance(name, str) and (name.startswith("_") or name in _UNSAFE_ATTRIBUTES):
            problems.append(f"{name!r} is an internal attribute: escapes the template sandbox")
    for path in sorted(paths, key=str):
        if path[0] not in TEMPLATE_ROOTS:
            roots = ", ".join(sorted(TEMPLATE_ROOTS))
            problems.append(f"unknown variable {templating.format_path(path)} (use {roots})")
    return problems


def meaning_problems(policy: NotificationPolicy) -> Iterator[tuple[Path_, str]]:
    for trigger, template in policy.templates.items():
        for part in ("subject", "body"):
            for problem in template_problems(getattr(template, part)):
                yield ("templates", trigger, part), problem
    routings = [(("defaults",), policy.defaults)] + [
        (("items", item_id), r) for item_id, r in policy.items.items()
    ]
    for where, routing in routings:
        for index, entry in enumerate(routing.email):
            if entry.startswith("team:") and entry[5:] not in policy.teams:
                yield (*where, "email", index), f"no team {entry[5:]!r} under teams:"
            elif entry != "requester" and not entry.startswith("team:") and "@" not in entry:
                yield (
                    (*where, "email", index),
                    f"{entry!r} is not an address, 'requester' or 'team:<name>'",
                )


# --- loading with file:line -------------------------------------------------------------


def _line(lines: dict[Path_, int], path: Path_) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def parse_policy(text: str, source: str = "<policy>") -> NotificationPolicy:
    """The policy in ``text``; ``InvalidPolicy`` lists every problem as ``file:line path: why``."""
    try:
        node = yaml.compose(text)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise InvalidPolicy([f"{source}:{line}: not YAML: {exc}"]) from None
    lines = yaml_lines(node)

    def where(path: Path_) -> str:
        shown = templating.format_path(path) if path else "<document>"
        return f"{source}:{_line(lines, path)} {shown}"

    if not isinstance(document, dict):
        raise InvalidPolicy([f"{source}:1: a notification policy is a mapping"])
    try:
        policy = NotificationPolicy.model_validate(document)
    except ValidationError as exc:
        raise InvalidPolicy(
            [f"{where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None
    problems = [f"{where(path)}: {message}" for path, message in meaning_problems(policy)]
    if problems:
        raise InvalidPolicy(problems)
    return policy


def load_policy(path: str | Path | None) -> NotificationPolicy:
    """The policy file at ``path``; no path: the defaults (requester e-mails only)."""
    if path is None:
        return NotificationPolicy()
    file = Path(path)
    return parse_policy(file.read_text(), str(file))

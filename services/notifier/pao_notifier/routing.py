"""From one public request event to the notifications it causes: pure, no I/O.

``plan`` maps the event to a trigger, picks the recipients the policy names (the current
stage's approvers for ``awaiting_approval``; the item's routing otherwise), and renders
the trigger's template in the sandbox. Ids derive from the event and the target, so a
redelivered event plans the same rows, which the store then ignores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pao_common import templating
from pao_common.errors import TemplateError
from pao_common.messages import RequestEvent
from pao_common.portal_links import request_url

from pao_notifier.policy import ChatHook, NotificationPolicy

_NAMESPACE = uuid.UUID("0b6f4a52-6d0e-4d55-9e0f-3c1e8f7a2b91")

# Public event type -> trigger. ``RequestScheduled`` (a change window holds the request:
# ``event.window``, ``event.until``) and ``RequestReleased`` (the window ended) are the
# orchestrator's change calendar events (``pao_orchestrator.domain.change_decide``).
# ``ChangeRequestOpened`` (``event.number``, ``event.url``: the request waits in
# ``awaiting_change_approval``), ``ChangeRequestApproved`` and ``ChangeRequestRejected``
# (``event.by``, ``event.comment``) are its change request's in the ITSM tool.
TRIGGER_OF: dict[str, str] = {
    "ApprovalRequested": "awaiting_approval",
    "RequestCompleted": "completed",
    "RequestFailed": "failed",
    "RequestRolledBack": "rolled_back",
    "RequestScheduled": "scheduled",
    "RequestReleased": "released",
    "ChangeRequestOpened": "awaiting_change_approval",
    "ChangeRequestApproved": "change_approved",
    "ChangeRequestRejected": "change_rejected",
}


@dataclass(frozen=True)
class RequestFacts:
    """What the notifier keeps of a request from its ``RequestSubmitted`` event."""

    request_id: str
    item_id: str
    requester: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    notification_id: str
    request_id: str
    event_version: int
    trigger: str
    channel: str  # email | slack | teams
    target: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    webhook_url: str | None = None
    error: str | None = None  # the template did not render: recorded as failed, not sent


def _id(event: RequestEvent, channel: str, target: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{event.request_id}:{event.version}/{channel}/{target}"))


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def plan(
    event: RequestEvent,
    facts: RequestFacts,
    policy: NotificationPolicy,
    system: dict[str, Any],
) -> list[Notification]:
    trigger = TRIGGER_OF.get(event.event_type)
    routing = policy.routing(facts.item_id)
    if trigger is None or trigger not in routing.triggers:
        return []
    if trigger == "awaiting_change_approval" and event.status != "awaiting_change_approval":
        return []  # decided before the opening was answered: the decision's message tells
    addresses: list[str] = []
    hooks: list[ChatHook] = []
    if trigger == "awaiting_approval":
        for user_id in event.data.get("approver_users") or ():
            addresses.append(policy.directory.address(str(user_id)) or "")
        for team in event.data.get("approver_teams") or ():
            channels = policy.teams.get(str(team))
            if channels is not None:
                addresses.extend(channels.email)
                hooks.extend(channels.chat)
    else:
        for entry in routing.email:
            if entry == "requester":
                rid = str(facts.requester.get("id") or "")
                addresses.append(
                    facts.requester.get("email") or policy.directory.address(rid) or ""
                )
            elif entry.startswith("team:"):
                channels = policy.teams.get(entry[5:])
                if channels is not None:
                    addresses.extend(channels.email)
                    hooks.extend(channels.chat)
            else:
                addresses.append(entry)
        hooks.extend(routing.chat)
    template = policy.template(trigger)
    context = {
        "request": {
            "id": event.request_id,
            "item_id": facts.item_id,
            "status": event.status,
            "url": request_url(str(system.get("portal_url") or ""), event.request_id),
            "error": event.data.get("error"),
        },
        "user": facts.requester,
        "event": event.data,
        "system": system,
    }
    error = None
    try:
        subject = str(templating.render_string(template.subject, context))
        body = str(templating.render_string(template.body, context))
    except TemplateError as exc:
        subject, body, error = template.subject, template.body, f"template: {exc}"
    out: list[Notification] = []
    recipients = _unique(addresses)
    if recipients:
        target = ", ".join(recipients)
        out.append(
            Notification(
                notification_id=_id(event, "email", target),
                request_id=event.request_id,
                event_version=event.version,
                trigger=trigger,
                channel="email",
                target=target,
                recipients=recipients,
                subject=subject,
                body=body,
                error=error,
            )
        )
    for hook in {h.name: h for h in hooks}.values():
        out.append(
            Notification(
                notification_id=_id(event, hook.format, hook.name),
                request_id=event.request_id,
                event_version=event.version,
                trigger=trigger,
                channel=hook.format,
                target=hook.name,
                recipients=(),
                subject=subject,
                body=body,
                webhook_url=hook.url,
                error=error,
            )
        )
    return out

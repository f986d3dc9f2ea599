"""How PAO recognises its JIRA tickets and reads their resolution (executor and gateway).

Every ticket the ``jira`` executor creates carries three labels:

- ``pao`` (``PAO_JIRA_LABEL``): a PAO ticket;
- ``pao-request-<request id>``: the request it belongs to (webhooks and polling map
  a resolved ticket back to its request with it);
- ``pao-step-<step id>``: the step that created it; with the request label it makes
  creation idempotent (a retried command finds the ticket instead of creating another).

A resolution is ``done`` when its name is one of ``DONE_RESOLUTIONS`` (configurable
with ``PAO_JIRA_DONE_RESOLUTIONS``), anything else (Won't Do, Won't Fix, Duplicate,
Declined, ...) is ``wont_do`` with the resolution (and the resolving comment, if any)
as the reason. The ``TicketResolved`` message id derives from the issue key and the
resolution, so the webhook and the poller announcing the same resolution publish the
same id and the orchestrator handles it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pao_common.messages import TicketResolved

REQUEST_LABEL_PREFIX = "pao-request-"
STEP_LABEL_PREFIX = "pao-step-"
DEFAULT_LABEL = "pao"
DEFAULT_SYNCED_LABEL = "pao-synced"
MANUAL_STEP = "manual-ticket"
DONE_RESOLUTIONS = ("Done", "Fixed", "Resolved", "Complete", "Completed")
_NAMESPACE = uuid.UUID("a7d4f7c2-5d0e-4a51-9a43-2f4f0c1d9e55")


def request_label(request_id: str) -> str:
    return REQUEST_LABEL_PREFIX + request_id


def step_label(step_id: str) -> str:
    return STEP_LABEL_PREFIX + step_id


def request_id_of(labels: Iterable[str]) -> str | None:
    """The request id carried by a ticket's labels, if any."""
    for label in labels:
        if label.startswith(REQUEST_LABEL_PREFIX) and len(label) > len(REQUEST_LABEL_PREFIX):
            return label[len(REQUEST_LABEL_PREFIX) :]
    return None


def parse_done(spec: str | Iterable[str] | None) -> frozenset[str]:
    """``"Done,Fixed"`` -> the resolution names (case-insensitive) that mean done."""
    if spec is None:
        names: Iterable[str] = DONE_RESOLUTIONS
    elif isinstance(spec, str):
        names = spec.split(",")
    else:
        names = spec
    return frozenset(n.strip().lower() for n in names if n.strip())


def message_id(issue_key: str, resolution: str) -> str:
    """The CloudEvent id of the ``TicketResolved`` for this resolution of this issue."""
    return str(uuid.uuid5(_NAMESPACE, f"{issue_key}/{resolution}"))


def _name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        name = value.get("name")
        return str(name) if name else None
    return str(value) if value else None


def _comment_text(body: Any) -> str:
    """A comment body: plain text (API v2) or an Atlassian Document (API v3)."""
    if isinstance(body, str):
        return body
    if isinstance(body, Mapping):
        if body.get("type") == "text":
            return str(body.get("text", ""))
        parts = [_comment_text(child) for child in body.get("content") or []]
        return ("\n\n" if body.get("type") == "doc" else "").join(p for p in parts if p)
    return ""


def last_comment(fields: Mapping[str, Any]) -> str | None:
    """The text of the newest comment in an issue's ``comment`` field, if any."""
    comment = fields.get("comment")
    comments = comment.get("comments") if isinstance(comment, Mapping) else None
    if not comments:
        return None
    text = _comment_text(comments[-1].get("body")).strip()
    return text or None


def ticket_resolved(
    issue: Mapping[str, Any],
    *,
    done: frozenset[str],
    comment: str | None = None,
) -> TicketResolved | None:
    """``TicketResolved`` for a resolved PAO issue (JSON as the REST API returns it), else None.

    ``comment`` is the comment that came with the resolution (a webhook's ``comment``);
    without it the issue's newest comment is the reason given for a ``wont_do``.
    """
    fields = issue.get("fields") or {}
    key = issue.get("key")
    resolution = _name(fields.get("resolution"))
    request_id = request_id_of(fields.get("labels") or [])
    if not key or resolution is None or request_id is None:
        return None
    if resolution.lower() in done:
        return TicketResolved(
            request_id=request_id, ticket_key=str(key), outcome="done", resolution=resolution
        )
    why = comment if comment is not None else last_comment(fields)
    reason = f"{resolution}: {why}" if why else resolution
    return TicketResolved(
        request_id=request_id,
        ticket_key=str(key),
        outcome="wont_do",
        resolution=resolution,
        reason=reason,
    )

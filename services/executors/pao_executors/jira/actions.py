"""The ``jira`` action: create a ticket (once), or comment on / transition an existing one.

Execute (``jira``)::

    project, issue_type, summary, description, labels, components, priority,
    assignee, custom_fields            -> create the issue
    issue_key                          -> act on this issue instead of creating one
    comment, transition                -> add a comment / take a transition afterwards

Outputs ``{key, url, id, created}``. Creation is idempotent per request and step: the
issue carries the labels ``pao-request-<id>`` and ``pao-step-<step>``, and an attempt
first searches for them, so a retried command (the first attempt's answer lost, or
JIRA committing before answering 500) finds the ticket instead of creating another.

Compensate (a step's rollback, or the orchestrator's comment when a request with a
manual ticket is cancelled): ``{comment, close, resolution, issue_key}``: comment on
the ticket (once), then, if ``close``, take a transition to a done status with
``resolution`` (default ``Won't Do``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pao_catalog_model.action_inputs.jira import TicketInputs, UndoInputs
from pao_common.errors import ActionError
from pao_common.executor import ActionContext, Executor
from pao_common.jira_tickets import request_label, step_label

from pao_executors.jira.client import TicketSystem
from pao_executors.jira.config import JiraSettings

T = TypeVar("T")
SUMMARY_MAX = 255


def _jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def ticket_fields(inputs: TicketInputs, *, labels: list[str], cloud: bool) -> dict[str, Any]:
    """The REST ``fields`` of the issue to create."""
    summary = " ".join(inputs.summary.split())
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1] + "…"
    fields: dict[str, Any] = {
        "project": {"key": inputs.project},
        "issuetype": {"name": inputs.issue_type},
        "summary": summary,
        "labels": labels,
    }
    if inputs.description:
        fields["description"] = inputs.description
    if inputs.components:
        fields["components"] = [{"name": c} for c in inputs.components]
    if inputs.priority:
        fields["priority"] = {"name": inputs.priority}
    if inputs.assignee:
        fields["assignee"] = {"accountId" if cloud else "name": inputs.assignee}
    fields.update(inputs.custom_fields)
    return fields


class TicketLocks:
    """One lock per (request, step) in this process: a cancel's comment waits for the create."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, request_id: str, step_id: str) -> AsyncIterator[None]:
        key = (request_id, step_id)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class JiraTickets:
    """The ``jira`` action and its compensation over one ticket system.

    ``jira`` is the system, or a factory of it called on first use (so a service starts
    without reaching JIRA). Each call runs in the circuit breaker of the system's host.
    """

    def __init__(
        self, jira: TicketSystem | Callable[[], TicketSystem], settings: JiraSettings
    ) -> None:
        self._jira = jira
        self._system: TicketSystem | None = None
        self.settings = settings
        self.locks = TicketLocks()

    def system(self) -> TicketSystem:
        if self._system is None:
            jira = self._jira
            self._system = jira() if callable(jira) else jira
        return self._system

    async def _call(
        self, ctx: ActionContext, operation: Callable[[TicketSystem], Awaitable[T]]
    ) -> T:
        target = self.system()
        async with ctx.circuit(target.host):
            return await operation(target)

    async def create_ticket(self, inputs: TicketInputs, ctx: ActionContext) -> dict[str, Any]:
        """Create the ticket (once per request and step); outputs ``{key, url, id, created}``."""
        async with self.locks.hold(ctx.request_id, ctx.step_id):
            issue, created = await self._issue(inputs, ctx)
            key = str(issue["key"])
            if inputs.comment and (created or inputs.issue_key is not None):
                body = inputs.comment
                await self._call(ctx, lambda j: j.comment(key, body))
            outputs: dict[str, Any] = {
                "key": key,
                "url": self.system().browse_url(key),
                "id": str(issue.get("id", "")),
                "created": created,
            }
            if inputs.transition:
                outputs["status"] = await self._take_transition(ctx, key, inputs.transition)
            return outputs

    async def undo_ticket(self, inputs: UndoInputs, ctx: ActionContext) -> dict[str, Any]:
        """Comment on the step's ticket (once) and close it unless ``close`` is false."""
        async with self.locks.hold(ctx.request_id, ctx.step_id):
            key = inputs.issue_key or ctx.outputs.get("key")
            if not key:
                found = await self._find_own(ctx)
                key = found["key"] if found else None
            if not key:
                return {"key": None, "commented": False, "closed": False}
            key = str(key)
            issue = await self._call(
                ctx, lambda j: j.get(key, fields=["comment", "status", "resolution"])
            )
            fields = issue.get("fields") or {}
            body = inputs.comment or (
                f"PAO request {ctx.request_id} no longer needs this ticket "
                f"(step {ctx.step_id} was rolled back)."
            )
            comments = (fields.get("comment") or {}).get("comments") or []
            commented = False
            if not any(c.get("body") == body for c in comments):  # a retry comments once
                await self._call(ctx, lambda j: j.comment(key, body))
                commented = True
            closed = False
            if inputs.close and not fields.get("resolution"):
                closed = await self._close(ctx, key, inputs.resolution)
            return {"key": key, "commented": commented, "closed": closed}

    async def close_system(self, _: Any) -> None:
        """At shutdown: close the ticket system's client, if one was made."""
        target = self._system
        closer = getattr(target, "close", None) if target is not None else None
        if closer is not None:
            closer()

    async def _issue(self, inputs: TicketInputs, ctx: ActionContext) -> tuple[dict[str, Any], bool]:
        """The issue the step acts on, and whether this attempt created it."""
        if inputs.issue_key is not None:
            key = inputs.issue_key
            return await self._call(ctx, lambda j: j.get(key, fields=["labels"])), False
        existing = await self._find_own(ctx)
        if existing is not None:
            ctx.log.info("ticket %s exists for this step already", existing["key"])
            return existing, False
        labels = _unique(
            [
                *inputs.labels,
                self.settings.label,
                request_label(ctx.request_id),
                step_label(ctx.step_id),
            ]
        )
        flavour = await self._call(ctx, lambda j: j.flavour())
        fields = ticket_fields(inputs, labels=labels, cloud=flavour == "cloud")
        await ctx.progress(f"creating a {inputs.issue_type} in {inputs.project}", 30)
        issue = await self._call(ctx, lambda j: j.create(fields))
        ctx.log.info("created ticket %s", issue["key"])
        return issue, True

    async def _find_own(self, ctx: ActionContext) -> dict[str, Any] | None:
        """The ticket this request's step created, found by its labels."""
        jql = (
            f"labels = {_jql_string(request_label(ctx.request_id))} AND "
            f"labels = {_jql_string(step_label(ctx.step_id))} ORDER BY created ASC"
        )
        found = await self._call(
            ctx, lambda j: j.search(jql, fields=["labels", "status", "resolution"], max_results=5)
        )
        return found[0] if found else None

    async def _take_transition(self, ctx: ActionContext, key: str, wanted: str) -> str:
        """Take transition ``wanted`` (id or name); the status it leads to."""
        options = await self._call(ctx, lambda j: j.transitions(key))
        match = [
            o for o in options if wanted.lower() in (str(o.get("id")), str(o.get("name")).lower())
        ]
        if not match:
            names = sorted(str(o.get("name")) for o in options)
            raise ActionError(f"{key} has no transition {wanted!r} now; it offers {names}")
        option = match[0]
        await self._call(ctx, lambda j: j.transition(key, str(option["id"]), {}))
        return str((option.get("to") or {}).get("name") or option.get("name"))

    async def _close(self, ctx: ActionContext, key: str, resolution: str) -> bool:
        """Take the first transition to a done status (with ``resolution`` if it takes one)."""
        options = await self._call(ctx, lambda j: j.transitions(key))
        done = [
            o
            for o in options
            if ((o.get("to") or {}).get("statusCategory") or {}).get("key") == "done"
        ]
        if not done:
            ctx.log.warning("%s offers no transition to a done status; left open", key)
            return False
        option = done[0]
        takes_resolution = "resolution" in (option.get("fields") or {})
        fields = {"resolution": {"name": resolution}} if takes_resolution else {}
        await self._call(ctx, lambda j: j.transition(key, str(option["id"]), fields))
        return True


def build_executor(
    jira: TicketSystem | Callable[[], TicketSystem], settings: JiraSettings
) -> Executor:
    """The ``jira`` executor over ``jira`` (or a factory of it, called on first use)."""
    executor = Executor(
        "jira",
        description="JIRA tickets: the manual fulfilment, or a step",
        circuit_failure_threshold=settings.circuit_failures,
        circuit_reset_timeout_s=settings.circuit_reset_s,
    )
    tickets = JiraTickets(jira, settings)
    executor.action("jira", inputs=TicketInputs)(tickets.create_ticket)
    executor.compensate("jira", inputs=UndoInputs)(tickets.undo_ticket)
    executor.on_stop(tickets.close_system)
    return executor

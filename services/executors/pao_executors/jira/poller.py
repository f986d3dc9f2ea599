"""Polling for resolved manual tickets: the fallback when a JIRA webhook is lost or absent.

Every ``poll_interval_s`` the executor asks JIRA for PAO manual tickets that are
resolved and not yet announced (``labels not in (pao-synced)``), publishes
``TicketResolved`` for each on ``pao.requests.commands`` (message id from key +
resolution: the same id the webhook uses, so the orchestrator acts once), then adds
the ``pao-synced`` label so the next poll skips it. A crash between publishing and
labelling publishes the same id again: harmless. Several replicas polling at once
do the same.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from pao_common.cloudevents import CloudEvent
from pao_common.jira_tickets import (
    MANUAL_STEP,
    message_id,
    parse_done,
    step_label,
    ticket_resolved,
)
from pao_common.messages import to_cloudevent

from pao_executors.jira.client import TicketSystem
from pao_executors.jira.config import JiraSettings
from pao_executors.jira.errors import JiraCallError

log = logging.getLogger("pao.executor.jira.poller")
SOURCE = "executor-jira"


class CommandPublisher(Protocol):
    """Where ``TicketResolved`` goes (``pao.requests.commands``)."""

    async def publish(self, event: CloudEvent) -> None:
        """Publish one command event keyed by its subject (the request id)."""
        ...


class ResolutionPoller:
    """Finds resolved, unannounced manual tickets and announces them."""

    def __init__(
        self, jira: TicketSystem, publisher: CommandPublisher, settings: JiraSettings
    ) -> None:
        self.jira = jira
        self.publisher = publisher
        self.settings = settings
        self.done = parse_done(settings.done_resolutions)

    @property
    def jql(self) -> str:
        s = self.settings
        return (
            f'labels = "{s.label}" AND labels = "{step_label(MANUAL_STEP)}" '
            f'AND resolution IS NOT EMPTY AND labels not in ("{s.synced_label}") '
            "ORDER BY updated ASC"
        )

    async def poll_once(self) -> list[str]:
        """One round; the keys announced."""
        issues = await self.jira.search(
            self.jql,
            fields=["labels", "resolution", "status", "comment"],
            max_results=self.settings.poll_max_results,
        )
        announced = []
        for issue in issues:
            message = ticket_resolved(issue, done=self.done)
            key = str(issue.get("key"))
            if message is not None:
                assert message.resolution is not None
                event = to_cloudevent(
                    message,
                    source=SOURCE,
                    subject=message.request_id,
                    id=message_id(key, message.resolution),
                )
                await self.publisher.publish(event)
                log.info("ticket %s resolved (%s): announced", key, message.resolution)
                announced.append(key)
            await self.jira.add_label(key, self.settings.synced_label)
        return announced

    async def run(self) -> None:
        """Poll until cancelled; a failed round is logged and retried next interval."""
        interval = self.settings.poll_interval_s
        while True:
            try:
                await self.poll_once()
            except JiraCallError as exc:
                log.warning("polling JIRA failed: %s", exc.message)
            except Exception:
                log.exception("polling JIRA failed")
            await asyncio.sleep(interval)

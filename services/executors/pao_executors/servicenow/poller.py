"""Polling for decided change requests: the fallback when ServiceNow's webhook is lost or absent.

Every ``poll_interval_s`` the executor asks ServiceNow for PAO's open change requests
whose ``approval`` is decided (``correlation_display=PAO^active=true^approvalINapproved,
rejected``) and publishes ``ChangeRequestDecided`` for each on ``pao.requests.commands``,
with the message id derived from ``sys_id`` and the decision: the same id the gateway's
webhook uses, so the orchestrator acts once. A decision announced is announced again only
after ``reannounce_after_s`` (a broker that lost the message costs a delay, not the
request); a change request leaves the query when PAO closes it at the request's end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from pao_common.cloudevents import CloudEvent
from pao_common.errors import ActionError
from pao_common.messages import to_cloudevent
from pao_common.servicenow import (
    CHANGE_FIELDS,
    CHANGE_TABLE,
    TableApi,
    change_decided,
    decided_changes_query,
    message_id,
)

from pao_executors.servicenow.config import ServiceNowSettings

log = logging.getLogger("pao.executor.servicenow.poller")
SOURCE = "executor-servicenow"


class CommandPublisher(Protocol):
    """Where ``ChangeRequestDecided`` goes (``pao.requests.commands``)."""

    async def publish(self, event: CloudEvent) -> None:
        """Publish one command event keyed by its subject (the request id)."""
        ...


class ApprovalPoller:
    """Finds decided, open PAO change requests and announces their decisions."""

    def __init__(
        self,
        table: Callable[[], TableApi],
        publisher: CommandPublisher,
        settings: ServiceNowSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.publisher = publisher
        self.settings = settings
        self._clock = clock
        self._announced: dict[str, float] = {}

    async def poll_once(self) -> list[str]:
        """One round; the numbers (or sys_ids) announced."""
        records = await self.table().query(
            CHANGE_TABLE,
            decided_changes_query(),
            (*CHANGE_FIELDS, "comments"),
            self.settings.poll_max_results,
        )
        now = self._clock()
        horizon = now - self.settings.reannounce_after_s
        self._announced = {k: at for k, at in self._announced.items() if at > horizon}
        announced = []
        for record in records:
            message = change_decided(record)
            if message is None:
                continue
            event_id = message_id(message.sys_id, message.approval)
            if event_id in self._announced:
                continue
            event = to_cloudevent(message, source=SOURCE, subject=message.request_id, id=event_id)
            await self.publisher.publish(event)
            self._announced[event_id] = now
            name = message.number or message.sys_id
            log.info("change request %s %s: announced", name, message.approval)
            announced.append(name)
        return announced

    async def run(self) -> None:
        """Poll until cancelled; a failed round is logged and retried next interval."""
        while True:
            try:
                await self.poll_once()
            except ActionError as exc:
                log.warning("polling ServiceNow failed: %s", exc.message)
            except Exception:
                log.exception("polling ServiceNow failed")
            await asyncio.sleep(self.settings.poll_interval_s)

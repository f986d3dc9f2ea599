"""Announcing catalog changes on ``pao.catalog.events``.

``CatalogEvents`` is the port the ingestion uses; ``KafkaCatalogEvents`` queues the
messages and a background task publishes them as CloudEvents, retrying while the
broker is away, so a broker hiccup neither blocks a reload nor loses an event
(short of the process dying). Event ids are derived from what they announce, so a
consumer can recognise a repeat.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

from faststream.kafka import KafkaBroker
from pao_common.kafka import publish_event
from pao_common.messages import CatalogItemPublished, CatalogItemRetired, to_cloudevent

log = logging.getLogger(__name__)

SOURCE = "pao.catalog"
_ID_NAMESPACE = uuid.UUID("8d4f3c4e-5b1a-4c0e-9a57-6a0c2b1c7e01")

CatalogMessage = CatalogItemPublished | CatalogItemRetired


class CatalogEvents(Protocol):
    """Where the catalog announces accepted and retired items."""

    def announce(self, message: CatalogMessage, *, occurrence: str) -> None:
        """Queue ``message`` for publication. ``occurrence`` distinguishes repeats of the
        same announcement (e.g. the time of a retirement) in the derived event id."""
        ...


def event_id(message: CatalogMessage, occurrence: str) -> str:
    return str(
        uuid.uuid5(
            _ID_NAMESPACE, f"{message.ce_type}/{message.item_id}@{message.version}/{occurrence}"
        )
    )


class KafkaCatalogEvents:
    """``CatalogEvents`` on Kafka: a queue drained by ``run()`` (a background task)."""

    def __init__(self, broker: KafkaBroker, topic: str, *, retry_s: float = 0.5) -> None:
        self._broker = broker
        self._topic = topic
        self._retry_s = retry_s
        self._queue: asyncio.Queue[tuple[CatalogMessage, str]] = asyncio.Queue()

    def announce(self, message: CatalogMessage, *, occurrence: str) -> None:
        self._queue.put_nowait((message, occurrence))

    async def run(self) -> None:
        while True:
            message, occurrence = await self._queue.get()
            event = to_cloudevent(
                message, source=SOURCE, subject=message.item_id, id=event_id(message, occurrence)
            )
            delay = self._retry_s
            while True:
                try:
                    await publish_event(self._broker, self._topic, event)
                    log.info("announced %s %s@%s", event.type, message.item_id, message.version)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the broker is away: keep the event, try again
                    log.warning(
                        "publishing %s failed (%r); retrying in %.1fs", event.type, exc, delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            self._queue.task_done()

    async def drain(self) -> None:
        """Wait until everything queued so far is published."""
        await self._queue.join()

"""One resource event in, its CI written: find by correlation id, then PATCH, else POST.

``handle`` returns only once the CI is written (or the event is refused): ServiceNow or
the catalog being down is retried with exponential backoff, as long as it takes, so the
consumer commits the event's offset after the write and never before. Behind the retries
sits the instance's circuit breaker, which turns a flood of timeouts into quick
``CircuitOpen`` failures while ServiceNow is down. Events of one resource share a
partition and are handled in order, so the CI ends as the latest event says; the
``SyncLedger`` passes over an event no newer than the last one written (a replay).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pao_common.errors import CircuitOpen, MessageRefused
from pao_common.messages import ResourceDecommissioned, ResourceEvent
from pao_common.servicenow import TableApi
from prometheus_client import Counter

from pao_executors.cmdb.catalog import CatalogMappings
from pao_executors.cmdb.errors import (
    CatalogUnavailable,
    ServiceNowRefused,
    ServiceNowUnavailable,
    UnknownItemVersion,
)
from pao_executors.cmdb.ledger import SyncedCi, SyncLedger
from pao_executors.cmdb.mapping import INSTALL_STATUS_FIELD, RETIRED, CiMapping, ci_values

log = logging.getLogger(__name__)
T = TypeVar("T")

Outcome = Literal["created", "updated", "unmapped", "kept_retired", "already_synced"]

SYNCS = Counter(
    "pao_cmdb_syncs_total",
    "Resource events mirrored to the CMDB, by outcome "
    "(created, updated, unmapped: the item maps to no CI, already_synced: a replay of an "
    "event no newer than the last one written, kept_retired: a retired CI an older event "
    "would revive, refused: dead-lettered)",
    ["outcome"],
)
RETRIES = Counter(
    "pao_cmdb_retries_total",
    "Tries that failed because ServiceNow or the catalog was down, by what was down",
    ["target"],
)

_TRANSIENT = (ServiceNowUnavailable, CatalogUnavailable, CircuitOpen)


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 60.0

    def delay_s(self, failed_tries: int) -> float:
        return float(min(self.initial_s * 2 ** (failed_tries - 1), self.max_s))


class CmdbSync:
    def __init__(
        self,
        catalog: CatalogMappings,
        table_api: TableApi,
        ledger: SyncLedger,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._catalog = catalog
        self._api = table_api
        self._ledger = ledger
        self._backoff = backoff or Backoff()
        self._sleep = sleep

    async def handle(self, event: ResourceEvent) -> Outcome:
        """Write the CI ``event`` leaves behind; ``MessageRefused`` when it cannot be."""
        last = await self._ledger.version(event.resource_id)
        if last is not None and event.version <= last:
            SYNCS.labels("already_synced").inc()
            return "already_synced"
        try:
            mapping = await self._retrying(
                lambda: self._catalog.mapping(event.item_id, event.item_version), "catalog"
            )
            if mapping is None:
                outcome: Outcome = "unmapped"
            else:
                outcome = await self._retrying(lambda: self._write(event, mapping), "servicenow")
        except (ServiceNowRefused, UnknownItemVersion) as exc:
            SYNCS.labels("refused").inc()
            raise MessageRefused(str(exc), error_type=type(exc).__name__) from exc
        SYNCS.labels(outcome).inc()
        log.info("resource %s v%d: CI %s", event.resource_id, event.version, outcome)
        return outcome

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], target: str) -> T:
        failed = 0
        while True:
            try:
                return await attempt()
            except _TRANSIENT as exc:
                failed += 1
                delay = self._backoff.delay_s(failed)
                RETRIES.labels(target).inc()
                log.warning("%s (try %d), again in %.1fs", exc, failed, delay)
                await self._sleep(delay)

    async def _write(self, event: ResourceEvent, mapping: CiMapping) -> Outcome:
        values = ci_values(event, mapping)
        found = await self._api.find(mapping.ci_class, mapping.correlation_field, event.resource_id)
        if not found:
            created = await self._api.create(mapping.ci_class, values)
            await self._remember(event, mapping, str(created.get("sys_id", "")), values)
            return "created"
        if len(found) > 1:
            log.warning(
                "resource %s has %d CIs in %s (%s): updating the oldest",
                event.resource_id,
                len(found),
                mapping.ci_class,
                ", ".join(str(r.get("sys_id")) for r in found),
            )
        ci = found[0]
        retiring = isinstance(event, ResourceDecommissioned)
        if ci.get(INSTALL_STATUS_FIELD) == RETIRED and not retiring:
            # A decommissioned resource stays decommissioned: this is an older event again.
            return "kept_retired"
        await self._api.update(mapping.ci_class, str(ci["sys_id"]), values)
        await self._remember(event, mapping, str(ci["sys_id"]), values)
        return "updated"

    async def _remember(
        self, event: ResourceEvent, mapping: CiMapping, sys_id: str, values: dict[str, Any]
    ) -> None:
        await self._ledger.record(
            SyncedCi(
                resource_id=event.resource_id,
                version=event.version,
                ci_class=mapping.ci_class,
                sys_id=sys_id,
                install_status=str(values[INSTALL_STATUS_FIELD]),
            )
        )

"""The CMDB sync service: a follower of ``pao.resources.events`` in its own consumer group.

``bootstrap`` wires the parts from settings; ``wire`` registers the subscriber. Settings
that cannot work (no ``PAO_CMDB_URL`` or user) stop the start; a missing password
secret is named on the first call (and retried: the secret may be mounted late).
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import httpx
from fastapi import FastAPI
from pao_common.cloudevents import CloudEvent
from pao_common.errors import SecretNotFound
from pao_common.executor.breaker import CircuitBreaker
from pao_common.executor.secrets import SecretResolver, install_log_redaction
from pao_common.kafka import subscribe
from pao_common.messages import RESOURCE_EVENT_TYPES, Message, ResourceEvent
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app
from pao_common.servicenow import SecretBasicAuth, TableApi
from pao_common.settings import Settings, get_settings

from pao_executors.cmdb.catalog import CatalogMappings
from pao_executors.cmdb.config import CmdbSettings
from pao_executors.cmdb.ledger import PostgresSyncLedger, SyncedCi, SyncLedger
from pao_executors.cmdb.mapping import PASSED_OVER
from pao_executors.cmdb.sync import Backoff, CmdbSync

SPEC = ServiceSpec(name="cmdb-sync", uses_database=True)
GROUP_ID = "pao-cmdb-sync"


def bootstrap(
    settings: Settings,
    cmdb: CmdbSettings,
    ledger: SyncLedger,
    secrets: SecretResolver | None = None,
) -> tuple[CmdbSync, list[httpx.AsyncClient]]:
    """The sync and the HTTP clients it holds (closed when the service stops)."""
    secrets = secrets or SecretResolver()

    def password() -> str:
        try:
            return secrets.get(cmdb.password_secret)
        except SecretNotFound as exc:
            # Not there yet (a secret mounted late): the call fails like an outage, is
            # retried, and the log names where the secret was looked for.
            raise httpx.TransportError(str(exc)) from exc

    servicenow = httpx.AsyncClient(
        base_url=cmdb.url.rstrip("/"),
        auth=SecretBasicAuth(cmdb.user, password),
        timeout=cmdb.timeout_s,
        headers={"Accept": "application/json"},
    )
    catalog = httpx.AsyncClient(base_url=settings.catalog_url, timeout=cmdb.catalog_timeout_s)
    breaker = CircuitBreaker(
        httpx.URL(cmdb.url).host or cmdb.url,
        executor="cmdb",
        failure_threshold=cmdb.circuit_failures,
        reset_timeout_s=cmdb.circuit_reset_s,
    )
    sync = CmdbSync(
        CatalogMappings(catalog, cache_size=cmdb.mapping_cache_size),
        TableApi(servicenow, breaker),
        ledger,
        Backoff(cmdb.backoff_s, cmdb.max_backoff_s),
    )
    return sync, [servicenow, catalog]


class _LazyLedger:
    """The ledger on the runtime's pool, which opens in the lifespan (after ``wire``)."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def version(self, resource_id: str) -> int | None:
        return await PostgresSyncLedger(self._pool()).version(resource_id)

    async def record(self, synced: SyncedCi) -> None:
        await PostgresSyncLedger(self._pool()).record(synced)


def wire(app: FastAPI, runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    cmdb = CmdbSettings()
    cmdb.check()
    ledger = _LazyLedger(lambda: runtime.db)
    sync, clients = bootstrap(settings, cmdb, ledger)
    app.state.cmdb_sync = sync

    async def on_event(message: Message, event: CloudEvent) -> None:
        assert isinstance(message, ResourceEvent)  # the subscription's types
        await sync.handle(message)

    subscribe(
        runtime.broker,
        {runtime.topics.resource_events: RESOURCE_EVENT_TYPES},
        on_event,
        group_id=GROUP_ID + settings.topic_suffix,
        dlq=runtime.dlq,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        idle_fetch_max_wait_ms=settings.idle_fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        ignored=PASSED_OVER,
    )

    async def start(rt: ServiceRuntime) -> None:
        install_log_redaction()

    async def stop(rt: ServiceRuntime) -> None:
        for client in clients:
            await client.aclose()

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or get_settings(), wire, title="PAO CMDB sync")

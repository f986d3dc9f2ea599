"""Composition root of the catalog service.

On start: watch ``PAO_CATALOG_DIR``, read the version history, load the directory,
record and announce what is new; from then on every change to the directory is
applied as it happens. The browse API answers from the in-memory index that every
(re)load swaps in; its GET reads are served by an ASGI fast path in front of the
framework (``fastpath``), the FastAPI routes (``api``) being the documented API and
the fallback.
"""

from __future__ import annotations

import asyncio
import functools
import gc

from fastapi import FastAPI
from pao_common.errors import ConfigurationError
from pao_common.service import ServiceRuntime, ServiceSpec, create_service_app
from pao_common.settings import Settings, get_settings

from pao_catalog.api import build_router
from pao_catalog.events import KafkaCatalogEvents
from pao_catalog.fastpath import CatalogReadPath
from pao_catalog.index import CatalogIndex, ItemEntry
from pao_catalog.ingest import CatalogIngestion, IngestError, RefusedDocument
from pao_catalog.schema_api import build_schema_router
from pao_catalog.store import PostgresVersionStore
from pao_catalog.watch import watch_catalog

SPEC = ServiceSpec(name="catalog", uses_database=True)


class CatalogService:
    """The running catalog: what the API reads, filled in when the service starts."""

    def __init__(self, *, freeze_gc: bool = False) -> None:
        self.freeze_gc = freeze_gc
        self.ingestion: CatalogIngestion | None = None
        self.events: KafkaCatalogEvents | None = None
        self._empty = CatalogIndex()

    @property
    def index(self) -> CatalogIndex:
        return self.ingestion.index if self.ingestion is not None else self._empty

    def refused(self) -> list[RefusedDocument]:
        return self.ingestion.refused() if self.ingestion is not None else []

    async def recorded(self, item_id: str) -> ItemEntry | None:
        return await self.ingestion.recorded(item_id) if self.ingestion is not None else None

    def errors(self) -> list[IngestError]:
        return self.ingestion.errors() if self.ingestion is not None else []

    async def start(self, runtime: ServiceRuntime) -> None:
        root = runtime.settings.catalog_dir
        if not root.is_dir():
            raise ConfigurationError(f"PAO_CATALOG_DIR {root} is not a directory")
        self.events = KafkaCatalogEvents(runtime.broker, runtime.topics.catalog_events)
        runtime.background.append(asyncio.create_task(self.events.run(), name="catalog-events"))
        self.ingestion = CatalogIngestion(root, PostgresVersionStore(runtime.db), self.events)
        # Watch first, then load: a change made while loading is picked up afterwards.
        watching = asyncio.Event()
        watcher = asyncio.create_task(
            watch_catalog(self.ingestion, watching=watching), name="catalog-watch"
        )
        runtime.background.append(watcher)
        ready = asyncio.create_task(watching.wait())
        await asyncio.wait([watcher, ready], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if watcher.done():
            watcher.result()  # the watch could not start: say why
        await self.ingestion.start()
        runtime.on_broker_reset.append(self._reannounce)
        if self.freeze_gc:
            # The index is long-lived: keep the collector from walking it again and again.
            gc.collect()
            gc.freeze()

    async def _reannounce(self, runtime: ServiceRuntime) -> None:
        if self.ingestion is not None:
            await self.ingestion.reannounce()


def wire(app: FastAPI, runtime: ServiceRuntime, *, freeze_gc: bool = False) -> None:
    """Register the catalog's routes and start-up work."""
    catalog = CatalogService(freeze_gc=freeze_gc)
    app.state.catalog = catalog
    app.include_router(build_router(catalog))
    app.include_router(build_schema_router())
    # Outermost of the service's middleware: the GET reads skip the framework around them.
    app.add_middleware(CatalogReadPath, view=catalog, service=SPEC.name)
    runtime.on_start.append(catalog.start)


def create_app(settings: Settings | None = None, *, freeze_gc: bool = False) -> FastAPI:
    """The catalog app; ``freeze_gc`` (for a process of its own) exempts the loaded
    catalog from garbage-collection passes, which keeps pauses out of read latency."""
    return create_service_app(
        SPEC,
        settings or get_settings(),
        functools.partial(wire, freeze_gc=freeze_gc),
        title="PAO catalog",
    )

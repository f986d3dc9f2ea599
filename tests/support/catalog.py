"""The catalog service's read API over a database's version history, for tests that record
catalog versions by writing ``catalog_item_versions`` (as the catalog service does) and
run the services that read them through that API (issue #15).

``history_app`` is the catalog's own router (``pao_catalog.api.build_router``) over an
index that loaded no directory, so every item read comes from the shared history
(``CatalogIngestion.recorded``): exactly how a catalog replica answers for versions that
another replica recorded. The list of items (``GET /items``) is of the whole history, read
again for each list. ``serve_history`` puts it on a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from pao_catalog.api import build_router
from pao_catalog.events import CatalogMessage
from pao_catalog.index import CatalogIndex, ItemEntry
from pao_catalog.ingest import CatalogIngestion, RefusedDocument
from pao_catalog.store import PostgresVersionStore
from pao_common.catalog_api import ITEMS, CatalogApi
from pao_devtools.ports import free_port


class _Unannounced:
    def announce(self, message: CatalogMessage, *, occurrence: str) -> None:
        raise AssertionError("a catalog over the history alone records nothing")


class HistoryView:
    """A catalog replica that has loaded no directory: it answers from the history."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._store = PostgresVersionStore(pool)
        self._ingestion = CatalogIngestion(Path("/nonexistent"), self._store, _Unannounced())
        self.index = CatalogIndex()

    async def listing(self) -> CatalogIndex:
        """Every item of the history, as a replica that started now would list them."""
        items: dict[str, ItemEntry] = {}
        for item_id in sorted({stored.item_id for stored in await self._store.history()}):
            entry = await self.recorded(item_id)
            if entry is not None:
                items[item_id] = entry
        return CatalogIndex(items)

    def refused(self) -> list[RefusedDocument]:
        return []

    async def recorded(self, item_id: str) -> ItemEntry | None:
        return await self._ingestion.recorded(item_id)


def history_app(pool: asyncpg.Pool) -> FastAPI:
    view = HistoryView(pool)
    app = FastAPI()
    app.include_router(build_router(view))

    @app.middleware("http")
    async def list_the_history(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path == ITEMS:
            listed = await view.listing()
            view.index = listed
            try:
                return await call_next(request)
            finally:
                view.index = CatalogIndex()
        return await call_next(request)

    return app


def history_api(pool: asyncpg.Pool) -> CatalogApi:
    """``CatalogApi`` on ``history_app`` in process (no socket)."""
    transport = httpx.ASGITransport(app=history_app(pool))
    return CatalogApi(httpx.AsyncClient(transport=transport, base_url="http://catalog"))


@contextlib.asynccontextmanager
async def serve_history(database_url: str, *, port: int | None = None) -> AsyncIterator[str]:
    """``history_app`` over ``database_url`` on a local port (``port``, else a free one);
    yields its URL. Leaving the block stops it: the catalog is down."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            history_app(pool),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the catalog over the history did not start")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await pool.close()

"""Run the catalog service in-process (lifespan + ASGI transport) on a temporary directory.

These tests get a database of their own: a catalog service retires, at start, every
item its directory does not define, which would retire the items other packages'
tests put into the session's shared database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from pao_catalog.app import CatalogService, create_app
from pao_catalog.ingest import CatalogIngestion
from pao_common import db
from pao_common.settings import Settings


@pytest.fixture(scope="session")
def catalog_database_url(postgres_admin_url: str) -> Iterator[str]:
    name = f"pao_test_catalog_{uuid.uuid4().hex[:10]}"
    url = db.with_database(postgres_admin_url, name)
    asyncio.run(db.ensure_database(url))
    asyncio.run(db.migrate(url))
    try:
        yield url
    finally:

        async def drop() -> None:
            conn = await asyncpg.connect(postgres_admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(drop())


@pytest.fixture
def settings(settings: Settings, catalog_database_url: str) -> Settings:
    return settings.model_copy(update={"database_url": catalog_database_url})


@pytest.fixture
async def db_pool(catalog_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(catalog_database_url, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@dataclass
class RunningCatalog:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def service(self) -> CatalogService:
        service: CatalogService = self.app.state.catalog
        return service

    @property
    def ingestion(self) -> CatalogIngestion:
        assert self.service.ingestion is not None
        return self.service.ingestion

    async def drain_events(self) -> None:
        assert self.service.events is not None
        await self.service.events.drain()


@contextlib.asynccontextmanager
async def running_catalog(settings: Settings) -> AsyncIterator[RunningCatalog]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
            yield RunningCatalog(app=app, client=client, settings=settings)


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    directory.mkdir()
    return directory


@pytest.fixture
def catalog_settings(settings: Settings, catalog_dir: Path) -> Settings:
    return settings.model_copy(update={"catalog_dir": catalog_dir})


@pytest.fixture
def prefix(test_id: str) -> str:
    """Item ids of this test start with it (the session's database is shared)."""
    return f"t{test_id}"


@dataclass(frozen=True)
class SeenEvent:
    ce_type: str
    body: dict[str, Any]
    headers: dict[str, str]
    key: str | None


async def catalog_events(
    bootstrap: str, topic: str, prefix: str, *, count: int, timeout_s: float = 20.0
) -> list[SeenEvent]:
    """The first ``count`` events on ``topic`` about items whose id starts with ``prefix``
    (read with bare aiokafka; other tests' items share the database, so their
    retirements may show up on this topic too)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-catalog-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    seen: list[SeenEvent] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    body = json.loads(r.value)
                    if str(body.get("item_id", "")).startswith(prefix):
                        headers = {k: v.decode() for k, v in r.headers}
                        key = r.key.decode() if r.key else None
                        seen.append(SeenEvent(headers["ce_type"], body, headers, key))
        return seen
    finally:
        await consumer.stop()

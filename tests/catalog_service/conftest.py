"""Run the catalog service in-process (lifespan + ASGI transport) on a temporary directory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pao_catalog.app import CatalogService, create_app
from pao_catalog.ingest import CatalogIngestion
from pao_common.settings import Settings


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

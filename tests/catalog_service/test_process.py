"""The catalog as ``pao dev`` runs it: its own process, real HTTP, a directory to watch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pao_common.settings import Settings

from tests.catalog_service.documents import item_document, write_item
from tests.support.services import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_catalog_process_serves_and_reloads(
    catalog_settings: Settings, catalog_dir: Path, tmp_path: Path, prefix: str
) -> None:
    item_id = f"{prefix}-db"
    write_item(catalog_dir, item_document(item_id, version="1.0.0"))
    write_item(catalog_dir / ".hidden", item_document(f"{prefix}-hidden"))
    service = ServiceProcess("pao_catalog", service_env(catalog_settings), tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            listed = (await client.get("/api/v1/catalog/items", params={"q": prefix})).json()
            assert [i["id"] for i in listed["items"]] == [item_id], "hidden folders are skipped"
            form = await client.get(f"/api/v1/catalog/items/{item_id}/form")
            assert form.status_code == 200 and form.json()["version"] == "1.0.0"

            write_item(catalog_dir, item_document(item_id, version="1.0.1"))
            latest = None
            for _ in range(400):  # until the watcher has applied the change
                body = (await client.get(f"/api/v1/catalog/items/{item_id}/versions")).json()
                latest = body["latest"]
                if latest == "1.0.1":
                    break
                await asyncio.sleep(0.05)
            assert latest == "1.0.1"
            missing = await client.get("/api/v1/catalog/items/nope")
            assert missing.status_code == 404
            assert missing.json()["detail"] == "catalog item 'nope' not found"
            metrics = (await client.get("/metrics")).text
            assert 'route="/api/v1/catalog/items/{item_id}/form",service="catalog"' in metrics
    finally:
        service.stop()
    assert '"msg": "catalog stopped"' in service.log_tail(), "a clean shutdown"

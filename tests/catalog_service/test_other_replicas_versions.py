"""A catalog replica answers for the versions another replica recorded (issue #15).

The orchestrator and the gateway read item versions through the catalog's API, and may
ask different replicas: the gateway pins a version one replica just recorded, the
orchestrator asks another that has not loaded it yet (a rolling deploy). Both serve one
shared version history, so ``GET /items/{id}?version=`` and ``GET /items/{id}/versions``
look there before answering 404. What the replica lists and calls latest stays what it
has loaded."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from pao_catalog.store import PostgresVersionStore
from pao_common.settings import Settings

from tests.catalog_service.conftest import running_catalog
from tests.catalog_service.documents import item_document, write_item

pytestmark = pytest.mark.integration

BASE = "/api/v1/catalog/items"


async def test_versions_recorded_by_another_replica_are_served(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    loaded, elsewhere = f"{prefix}-loaded", f"{prefix}-elsewhere"
    write_item(catalog_dir, item_document(loaded))
    async with running_catalog(catalog_settings) as catalog:
        other_replica = PostgresVersionStore(db_pool)
        newer = item_document(loaded, version="1.1.0")
        await other_replica.record(loaded, "1.1.0", "h-newer", newer, "newer.yaml")
        await other_replica.record(elsewhere, "1.0.0", "h-else", item_document(elsewhere), None)

        r = await catalog.client.get(f"{BASE}/{loaded}", params={"version": "1.1.0"})
        assert r.status_code == 200 and r.json()["document"] == newer
        assert r.json()["content_hash"] == "h-newer"
        r = await catalog.client.get(f"{BASE}/{loaded}")
        assert r.json()["version"] == "1.0.0", "latest: what this replica loaded"
        r = await catalog.client.get(f"{BASE}/{elsewhere}/versions")
        assert r.status_code == 200
        assert (r.json()["latest"], [v["version"] for v in r.json()["versions"]]) == (
            "1.0.0",
            ["1.0.0"],
        )
        r = await catalog.client.get(f"{BASE}/{elsewhere}", params={"version": "1.0.0"})
        assert r.status_code == 200 and r.json()["id"] == elsewhere

        r = await catalog.client.get(f"{BASE}/{loaded}", params={"version": "9.9.9"})
        assert r.status_code == 404
        assert r.json()["detail"] == (
            f"catalog item {loaded!r} has no version '9.9.9' (known: 1.0.0)"
        )
        r = await catalog.client.get(f"{BASE}/{prefix}-nowhere/versions")
        assert r.status_code == 404
        listed = await catalog.client.get(BASE, params={"q": prefix})
        assert [i["id"] for i in listed.json()["items"]] == [loaded], "lists what it loaded"

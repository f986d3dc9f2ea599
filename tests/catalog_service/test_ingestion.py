"""Ingestion: load, reload on change, last good kept, versions recorded, retirement, events."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from pao_common.settings import Settings
from pao_common.topics import Topics

from tests.catalog_service.conftest import RunningCatalog, catalog_events, running_catalog
from tests.catalog_service.documents import item_document, write_item
from tests.support.kafka import wait_for

pytestmark = pytest.mark.integration


async def rows(pool: asyncpg.Pool, item_id: str) -> list[dict[str, Any]]:
    found = await pool.fetch(
        "SELECT version, content_hash, document, source_path, retired_at"
        " FROM catalog_item_versions WHERE item_id = $1 ORDER BY published_at",
        item_id,
    )
    return [dict(r) for r in found]


async def item(catalog: RunningCatalog, item_id: str, **params: str) -> dict[str, Any]:
    response = await catalog.client.get(f"/api/v1/catalog/items/{item_id}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def errors(catalog: RunningCatalog) -> dict[str, Any]:
    body: dict[str, Any] = (await catalog.client.get("/api/v1/catalog/errors")).json()
    return body


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


async def test_valid_documents_are_recorded_served_and_announced(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    db_file = write_item(catalog_dir, item_document(f"{prefix}-db", version="1.2.0"))
    write_item(catalog_dir, item_document(f"{prefix}-cache"), filename="nested/cache.yml")

    async with running_catalog(catalog_settings) as catalog:
        served = await item(catalog, f"{prefix}-db")
        assert served["version"] == "1.2.0"
        assert served["status"] == "active"
        assert served["content_hash"] == sha256(db_file)
        assert served["document"]["metadata"]["id"] == f"{prefix}-db"
        assert (await item(catalog, f"{prefix}-cache"))["version"] == "1.0.0"
        assert (await errors(catalog))["count"] == 0
        await catalog.drain_events()

    [row] = await rows(db_pool, f"{prefix}-db")
    assert row["version"] == "1.2.0" and row["retired_at"] is None
    assert row["content_hash"] == sha256(db_file)
    assert row["source_path"] == f"{prefix}-db.yaml"
    assert json.loads(row["document"]) == yaml.safe_load(db_file.read_text())
    [cache] = await rows(db_pool, f"{prefix}-cache")
    assert cache["source_path"] == "nested/cache.yml"

    topic = Topics(catalog_settings.topic_suffix).catalog_events
    events = await catalog_events(catalog_settings.kafka_bootstrap, topic, prefix, count=2)
    by_item = {e.body["item_id"]: e for e in events}
    db_event = by_item[f"{prefix}-db"]
    assert db_event.ce_type == "pao.catalog.item.published"
    assert db_event.body["version"] == "1.2.0"
    assert db_event.body["content_hash"] == sha256(db_file)
    assert db_event.key == f"{prefix}-db" and db_event.headers["ce_subject"] == f"{prefix}-db"
    assert db_event.headers["ce_source"] == "pao.catalog"
    assert by_item[f"{prefix}-cache"].ce_type == "pao.catalog.item.published"


async def test_file_changes_reload_and_new_versions_are_kept(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    item_id = f"{prefix}-db"
    write_item(catalog_dir, item_document(item_id, version="1.0.0", description="first"))

    async with running_catalog(catalog_settings) as catalog:
        assert (await item(catalog, item_id))["version"] == "1.0.0"

        # The watcher picks up a new version written to the directory.
        write_item(catalog_dir, item_document(item_id, version="1.1.0", description="second"))
        await wait_for(lambda: catalog.service.index.items[item_id].current.version == "1.1.0")
        latest = await item(catalog, item_id)
        assert latest["version"] == "1.1.0" and latest["description"] == "second"
        old = await item(catalog, item_id, version="1.0.0")
        assert old["description"] == "first"

        # A new file appears.
        write_item(catalog_dir, item_document(f"{prefix}-new"))
        await wait_for(lambda: f"{prefix}-new" in catalog.service.index.items)
        await catalog.drain_events()

    assert [r["version"] for r in await rows(db_pool, item_id)] == ["1.0.0", "1.1.0"]
    topic = Topics(catalog_settings.topic_suffix).catalog_events
    events = await catalog_events(catalog_settings.kafka_bootstrap, topic, prefix, count=3)
    assert {e.ce_type for e in events} == {"pao.catalog.item.published"}
    # Ordered per item (the item id is the key); items on other partitions interleave.
    assert [e.body["version"] for e in events if e.key == item_id] == ["1.0.0", "1.1.0"]
    assert [e.body["version"] for e in events if e.key == f"{prefix}-new"] == ["1.0.0"]


async def test_invalid_new_version_keeps_the_last_good_one(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    item_id = f"{prefix}-db"
    path = write_item(catalog_dir, item_document(item_id, version="1.0.0"))

    async with running_catalog(catalog_settings) as catalog:
        broken = item_document(item_id, version="1.1.0")
        broken["fulfillment"]["manual"]["jira"]["summary"] = "Provide {{ inputs.dbname }}"
        write_item(catalog_dir, broken)
        await wait_for(lambda: bool(catalog.ingestion.errors()))

        report = await errors(catalog)
        assert report["count"] >= 1
        [document] = report["documents"]
        assert document["item_id"] == item_id and document["serving_version"] == "1.0.0"
        texts = [e["text"] for e in report["errors"]]
        assert any(
            "fulfillment.manual.jira.summary" in t and "inputs.dbname" in t for t in texts
        ), texts
        first = report["errors"][0]
        assert first["file"].endswith(f"{item_id}.yaml") and isinstance(first["line"], int)

        assert (await item(catalog, item_id))["version"] == "1.0.0"
        form = await catalog.client.get(f"/api/v1/catalog/items/{item_id}/form")
        assert form.status_code == 200 and form.json()["version"] == "1.0.0"

        # Fixing the file clears the error and publishes the fixed version.
        write_item(catalog_dir, item_document(item_id, version="1.1.0"))
        await wait_for(lambda: catalog.service.index.items[item_id].current.version == "1.1.0")
        assert (await errors(catalog))["count"] == 0
    assert path.exists()
    assert [r["version"] for r in await rows(db_pool, item_id)] == ["1.0.0", "1.1.0"]


async def test_changed_document_under_the_same_version_is_refused(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    item_id = f"{prefix}-db"
    path = write_item(catalog_dir, item_document(item_id, version="2.0.0", description="one"))
    recorded = sha256(path)

    async with running_catalog(catalog_settings) as catalog:
        write_item(catalog_dir, item_document(item_id, version="2.0.0", description="two"))
        await wait_for(lambda: bool(catalog.ingestion.errors()))
        [error] = (await errors(catalog))["errors"]
        assert error["path"] == "metadata.version"
        assert "already published with different content" in error["message"]
        assert "bump metadata.version" in error["message"]
        assert isinstance(error["line"], int)
        served = await item(catalog, item_id)
        assert served["description"] == "one" and served["content_hash"] == recorded

        # A version going backwards is refused too.
        write_item(catalog_dir, item_document(item_id, version="1.9.0"))
        await wait_for(
            lambda: any("versions only go up" in e.message for e in catalog.ingestion.errors())
        )
        assert (await item(catalog, item_id))["version"] == "2.0.0"

    [row] = await rows(db_pool, item_id)
    assert row["content_hash"] == recorded


async def test_removed_or_retired_documents_are_retired_and_announced(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    gone, sunset = f"{prefix}-gone", f"{prefix}-sunset"
    gone_path = write_item(catalog_dir, item_document(gone, owner=f"own-{prefix}"))
    write_item(catalog_dir, item_document(sunset, owner=f"own-{prefix}", version="1.0.0"))
    listing = {"owner": f"own-{prefix}"}

    async with running_catalog(catalog_settings) as catalog:
        listed = (await catalog.client.get("/api/v1/catalog/items", params=listing)).json()
        assert [i["id"] for i in listed["items"]] == [gone, sunset]

        gone_path.unlink()
        write_item(
            catalog_dir,
            item_document(sunset, owner=f"own-{prefix}", version="1.1.0", lifecycle="retired"),
        )
        await wait_for(
            lambda: (
                catalog.service.index.items[gone].retired
                and catalog.service.index.items[sunset].retired
            )
        )
        listed = (await catalog.client.get("/api/v1/catalog/items", params=listing)).json()
        assert listed["items"] == [] and listed["total"] == 0
        with_retired = (
            await catalog.client.get(
                "/api/v1/catalog/items", params={**listing, "include_retired": "true"}
            )
        ).json()
        assert [(i["id"], i["status"]) for i in with_retired["items"]] == [
            (gone, "retired"),
            (sunset, "retired"),
        ]
        retired = await item(catalog, sunset)
        assert retired["status"] == "retired" and retired["version"] == "1.1.0"
        versions = (await catalog.client.get(f"/api/v1/catalog/items/{sunset}/versions")).json()
        assert versions["latest"] is None and versions["retired"] is True
        await catalog.drain_events()

    assert all(r["retired_at"] is not None for r in await rows(db_pool, gone))
    assert [(r["version"], r["retired_at"] is not None) for r in await rows(db_pool, sunset)] == [
        ("1.0.0", True),
        ("1.1.0", True),
    ]
    topic = Topics(catalog_settings.topic_suffix).catalog_events
    events = await catalog_events(catalog_settings.kafka_bootstrap, topic, prefix, count=4)
    retirements = {(e.body["item_id"], e.body["version"]) for e in events if "retired" in e.ce_type}
    assert retirements == {(gone, "1.0.0"), (sunset, "1.1.0")}
    published = [(e.body["item_id"], e.body["version"]) for e in events if "published" in e.ce_type]
    assert sorted(published) == [(gone, "1.0.0"), (sunset, "1.0.0")], (
        "no publish of a retiring version"
    )


async def test_restart_keeps_history_and_retires_what_vanished_meanwhile(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    kept, vanished = f"{prefix}-kept", f"{prefix}-vanished"
    write_item(catalog_dir, item_document(kept, version="1.0.0", description="old"))
    vanished_path = write_item(catalog_dir, item_document(vanished))
    async with running_catalog(catalog_settings):
        pass

    # While the service is down: a new version of one item, the other one deleted.
    write_item(catalog_dir, item_document(kept, version="1.0.1", description="new"))
    vanished_path.unlink()

    async with running_catalog(catalog_settings) as catalog:
        assert (await item(catalog, kept))["version"] == "1.0.1"
        assert (await item(catalog, kept, version="1.0.0"))["description"] == "old"
        assert (await item(catalog, vanished))["status"] == "retired"

        # Invalid at start: the last good version from the history is served.
        broken = item_document(kept, version="1.0.2")
        broken["presentation"]["fields"][0]["type"] = "colour"
        write_item(catalog_dir, broken)
    async with running_catalog(catalog_settings) as catalog:
        served = await item(catalog, kept)
        assert served["version"] == "1.0.1" and served["status"] == "active"
        [document] = (await errors(catalog))["documents"]
        assert document["item_id"] == kept and document["serving_version"] == "1.0.1"

    assert [r["version"] for r in await rows(db_pool, kept)] == ["1.0.0", "1.0.1"]
    assert [r["retired_at"] is not None for r in await rows(db_pool, vanished)] == [True]


async def test_duplicate_ids_keep_the_first_file(
    catalog_settings: Settings, catalog_dir: Path, prefix: str
) -> None:
    item_id = f"{prefix}-db"
    write_item(catalog_dir, item_document(item_id, description="first"), filename="a.yaml")
    write_item(catalog_dir, item_document(item_id, description="second"), filename="b.yaml")
    async with running_catalog(catalog_settings) as catalog:
        assert (await item(catalog, item_id))["description"] == "first"
        [error] = (await errors(catalog))["errors"]
        assert error["file"].endswith("b.yaml") and error["path"] == "metadata.id"
        assert "duplicate item id" in error["message"] and "a.yaml" in error["message"]


async def test_replicas_starting_together_record_and_announce_once(
    settings: Settings, tmp_path: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    directory = tmp_path / "catalog"
    ids = [f"{prefix}-r{n}" for n in range(5)]
    for item_id in ids:
        write_item(directory, item_document(item_id))
    replica = settings.model_copy(update={"catalog_dir": directory})

    ready: list[bool] = []
    done = asyncio.Event()

    async def replica_runs() -> None:
        async with running_catalog(replica) as catalog:
            assert sorted(i for i in catalog.service.index.items if i.startswith(prefix)) == ids
            await catalog.drain_events()
            ready.append(True)
            await done.wait()

    tasks = [asyncio.create_task(replica_runs()) for _ in range(3)]
    await wait_for(lambda: len(ready) == 3 or any(t.done() for t in tasks), timeout_s=60)
    done.set()
    await asyncio.gather(*tasks)

    counts = await db_pool.fetch(
        "SELECT item_id, count(*) AS n FROM catalog_item_versions WHERE item_id LIKE $1"
        " GROUP BY item_id",
        f"{prefix}-%",
    )
    assert {r["item_id"]: r["n"] for r in counts} == dict.fromkeys(ids, 1)
    topic = Topics(settings.topic_suffix).catalog_events
    events = await catalog_events(
        settings.kafka_bootstrap, topic, prefix, count=len(ids) + 1, timeout_s=5
    )
    assert sorted(e.body["item_id"] for e in events) == ids, "one announcement per version"


async def test_every_shipped_document_is_served(settings: Settings) -> None:
    """The repository's own ``catalog/`` loads without a refusal, forms and all."""
    shipped = sorted(settings.catalog_dir.glob("*.yaml"))
    assert shipped, "the repository ships catalog documents"
    async with running_catalog(settings) as catalog:
        assert (await errors(catalog))["count"] == 0, await errors(catalog)
        for path in shipped:
            item_id = yaml.safe_load(path.read_text())["metadata"]["id"]
            served = await item(catalog, item_id)
            assert served["status"] in ("active", "deprecated"), item_id
            form = await catalog.client.get(f"/api/v1/catalog/items/{item_id}/form")
            assert form.status_code == 200 and form.json()["version"] == served["version"]


async def test_moved_document_stays_published_and_removed_folder_retires(
    catalog_settings: Settings, catalog_dir: Path, db_pool: asyncpg.Pool, prefix: str
) -> None:
    moved, foldered = f"{prefix}-moved", f"{prefix}-foldered"
    old_path = write_item(catalog_dir, item_document(moved))
    write_item(catalog_dir, item_document(foldered), filename="team/x.yaml")

    async with running_catalog(catalog_settings) as catalog:
        old_path.rename(catalog_dir / "renamed.yaml")
        shutil.rmtree(catalog_dir / "team")
        await wait_for(lambda: catalog.service.index.items[foldered].retired)
        await wait_for(lambda: "renamed.yaml" in catalog.ingestion.files())
        assert not catalog.service.index.items[moved].retired
        assert catalog.ingestion.files()["renamed.yaml"].item_id == moved
        assert (await errors(catalog))["count"] == 0
        await catalog.drain_events()

    assert [r["retired_at"] for r in await rows(db_pool, moved)] == [None]
    topic = Topics(catalog_settings.topic_suffix).catalog_events
    events = await catalog_events(catalog_settings.kafka_bootstrap, topic, prefix, count=3)
    assert sorted((e.body["item_id"], e.ce_type.rsplit(".", 1)[1]) for e in events) == [
        (foldered, "published"),
        (foldered, "retired"),
        (moved, "published"),
    ], "the move announces nothing"


async def test_after_a_broker_reset_live_items_are_announced_again(
    catalog_settings: Settings, catalog_dir: Path, prefix: str
) -> None:
    write_item(catalog_dir, item_document(f"{prefix}-live"))
    gone = write_item(catalog_dir, item_document(f"{prefix}-gone"))
    async with running_catalog(catalog_settings) as catalog:
        gone.unlink()
        await wait_for(lambda: catalog.service.index.items[f"{prefix}-gone"].retired)
        assert await catalog.ingestion.reannounce() == 1
        await catalog.drain_events()

    topic = Topics(catalog_settings.topic_suffix).catalog_events
    events = await catalog_events(catalog_settings.kafka_bootstrap, topic, prefix, count=4)
    live = [e for e in events if e.key == f"{prefix}-live"]
    assert [e.ce_type for e in live] == ["pao.catalog.item.published"] * 2
    assert live[0].headers["ce_id"] == live[1].headers["ce_id"], "a repeat, recognisably"

"""The catalog paths: proxied from the catalog service, cached in Redis, invalidated by
``pao.catalog.events``."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from pao_common.messages import CatalogItemPublished, CatalogItemRetired, Message, to_cloudevent

from tests.gateway.conftest import (
    Issuer,
    JsonServer,
    RunningGateway,
    eventually,
    item_document,
    publish_version,
)
from tests.support.kafka import produce, records_until_sentinels

pytestmark = pytest.mark.integration

ITEMS = "/api/v1/catalog/items"


async def publish_catalog_event(gateway: RunningGateway, message: Message, item_id: str) -> None:
    event = to_cloudevent(message, source="test-catalog", subject=item_id)
    await produce(
        gateway.settings.kafka_bootstrap,
        gateway.topics.catalog_events,
        event.value(),
        key=event.key(),
        headers=event.headers(),
    )


async def test_proxy_caches_and_invalidates_on_catalog_events(
    gateway: RunningGateway, issuer: Issuer, catalog_service: JsonServer
) -> None:
    x, y = (f"item-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for item_id in (x, y):
        catalog_service.routes[("GET", f"{ITEMS}/{item_id}")] = (
            200,
            {"id": item_id, "version": "1.0.0"},
        )
        catalog_service.routes[("GET", f"{ITEMS}/{item_id}/form")] = (
            200,
            {"schema": {"type": "object"}, "uiSchema": {}, "version": "1.0.0"},
        )
    catalog_service.routes[("GET", ITEMS)] = (200, {"items": [{"id": x}], "total": 1})
    headers = issuer.headers("browser")
    listing = {"q": x}  # this test's own list page in the cache

    async def get(path: str, **params: str) -> httpx.Response:
        r = await gateway.client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r

    first = await get(f"{ITEMS}/{x}")
    second = await get(f"{ITEMS}/{x}")
    assert first.json() == second.json() == {"id": x, "version": "1.0.0"}
    assert (first.headers["x-pao-cache"], second.headers["x-pao-cache"]) == ("miss", "hit")
    assert catalog_service.count("GET", f"{ITEMS}/{x}") == 1
    await get(f"{ITEMS}/{x}/form")
    await get(f"{ITEMS}/{x}/form")
    assert catalog_service.count("GET", f"{ITEMS}/{x}/form") == 1
    await get(f"{ITEMS}/{y}")
    await get(ITEMS, **listing)
    await get(ITEMS, **listing)
    list_calls = catalog_service.count("GET", ITEMS)

    # The catalog publishes 1.1.0 of x: its entries and the list pages are dropped.
    catalog_service.routes[("GET", f"{ITEMS}/{x}")] = (200, {"id": x, "version": "1.1.0"})
    assert (await get(f"{ITEMS}/{x}")).json()["version"] == "1.0.0", "still cached"
    await publish_catalog_event(
        gateway, CatalogItemPublished(item_id=x, version="1.1.0", content_hash="h2"), x
    )
    fresh: list[str] = []

    async def refreshed() -> bool:
        fresh.append((await get(f"{ITEMS}/{x}")).json()["version"])
        return fresh[-1] == "1.1.0"

    await eventually(refreshed)
    assert catalog_service.count("GET", f"{ITEMS}/{x}") == 2
    await get(ITEMS, **listing)
    assert catalog_service.count("GET", ITEMS) == list_calls + 1
    await get(f"{ITEMS}/{y}")
    assert catalog_service.count("GET", f"{ITEMS}/{y}") == 1, "other items stay cached"

    # Retiring invalidates too.
    catalog_service.routes[("GET", f"{ITEMS}/{y}")] = (404, {"detail": "retired"})
    await publish_catalog_event(gateway, CatalogItemRetired(item_id=y, version="1.0.0"), y)

    async def gone() -> bool:
        r = await gateway.client.get(f"{ITEMS}/{y}", headers=headers)
        return r.status_code == 404

    await eventually(gone)
    missing = await gateway.client.get(f"{ITEMS}/{y}", headers=headers)
    assert missing.status_code == 404 and missing.json() == {"detail": "retired"}
    before = catalog_service.count("GET", f"{ITEMS}/{y}")
    await gateway.client.get(f"{ITEMS}/{y}", headers=headers)
    assert catalog_service.count("GET", f"{ITEMS}/{y}") == before + 1, "errors are not cached"

    anonymous = await gateway.client.get(f"{ITEMS}/{x}")
    assert anonymous.status_code == 401


async def test_validate_is_proxied_behind_access_rules(
    gateway: RunningGateway, issuer: Issuer, catalog_service: JsonServer, db_pool: asyncpg.Pool
) -> None:
    item_id = f"item-{uuid.uuid4().hex[:8]}"
    await publish_version(db_pool, item_document(item_id, access={"teams": ["dba"]}))
    path = f"{ITEMS}/{item_id}/validate"
    answer = {"valid": False, "errors": [{"field": "name", "message": "required"}]}
    catalog_service.routes[("POST", path)] = (200, answer)

    r = await gateway.client.post(
        path, json={"inputs": {}}, headers=issuer.headers("eve", teams=("web",))
    )
    assert r.status_code == 403
    assert catalog_service.count("POST", path) == 0

    r = await gateway.client.post(
        path, json={"inputs": {"size": 2}}, headers=issuer.headers("dan", teams=("dba",))
    )
    assert r.status_code == 200 and r.json() == answer
    assert catalog_service.bodies[-1] == {"inputs": {"size": 2}}


async def test_cache_survives_its_own_events_topic_noise(
    gateway: RunningGateway, issuer: Issuer, catalog_service: JsonServer
) -> None:
    """A broken record on the catalog events topic is dead-lettered; invalidation goes on."""
    item_id = f"item-{uuid.uuid4().hex[:8]}"
    catalog_service.routes[("GET", f"{ITEMS}/{item_id}")] = (200, {"v": 1})
    headers = issuer.headers("browser")
    await gateway.client.get(f"{ITEMS}/{item_id}", headers=headers)
    await produce(
        gateway.settings.kafka_bootstrap,
        gateway.topics.catalog_events,
        b"{not json",
        key=item_id.encode(),
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", b"x"),
            ("ce_type", b"pao.catalog.item.published"),
            ("ce_source", b"t"),
        ],
    )
    catalog_service.routes[("GET", f"{ITEMS}/{item_id}")] = (200, {"v": 2})
    await publish_catalog_event(
        gateway, CatalogItemPublished(item_id=item_id, version="2", content_hash="h"), item_id
    )

    async def refreshed() -> bool:
        r = await gateway.client.get(f"{ITEMS}/{item_id}", headers=headers)
        return bool(r.json() == {"v": 2})

    await eventually(refreshed)
    dead = await records_until_sentinels(
        gateway.settings.kafka_bootstrap, gateway.topics.dlq, [item_id]
    )
    assert any(r.value == b"{not json" for r in dead)


async def test_the_list_says_who_may_request_each_item(
    gateway: RunningGateway, issuer: Issuer, catalog_service: JsonServer
) -> None:
    """Items a person may not request are listed, marked, with who may; the cache is shared."""
    open_id, dba_id = (f"item-{uuid.uuid4().hex[:8]}" for _ in range(2))
    listed: list[dict[str, Any]] = [
        {"id": open_id, "access": {"teams": [], "roles": []}},
        {"id": dba_id, "access": {"teams": ["dba"], "roles": ["db-owner"]}},
        {"id": "from-elsewhere"},
    ]
    catalog_service.routes[("GET", ITEMS)] = (200, {"items": listed, "total": 3})
    catalog_service.routes[("GET", f"{ITEMS}/{dba_id}")] = (200, listed[1])
    listing = {"q": dba_id}
    calls = catalog_service.count("GET", ITEMS)

    async def marks(user: str, **claims: tuple[str, ...]) -> list[tuple[object, object]]:
        r = await gateway.client.get(ITEMS, params=listing, headers=issuer.headers(user, **claims))
        assert r.status_code == 200, r.text
        return [(i.get("can_request"), i.get("access_reason")) for i in r.json()["items"]]

    refusal = f"{dba_id} may only be requested by teams dba or roles db-owner"
    assert await marks("eve", teams=("web",)) == [(True, None), (False, refusal), (None, None)]
    assert await marks("dan", teams=("dba",)) == [(True, None), (True, None), (None, None)]
    assert (await marks("olga", roles=("db-owner",)))[1] == (True, None)
    assert (await marks("root", roles=("platform-admin",)))[1] == (True, None)
    assert catalog_service.count("GET", ITEMS) == calls + 1, "one cached list, marked per person"

    detail = await gateway.client.get(f"{ITEMS}/{dba_id}", headers=issuer.headers("eve"))
    assert detail.json() == {**listed[1], "can_request": False, "access_reason": refusal}

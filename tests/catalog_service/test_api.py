"""The browse API: every endpoint, filters, pagination, versions, forms, validation, 404s."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from pao_catalog.fastpath import CatalogReadPath
from pao_common.settings import Profile, Settings
from starlette.types import Receive, Scope, Send

from tests.catalog_service.conftest import RunningCatalog, running_catalog
from tests.catalog_service.documents import item_document, write_item

pytestmark = pytest.mark.integration

P = f"a{uuid.uuid4().hex[:6]}"  # this module's items, owners and categories
ITEMS = [f"{P}-item-{n:02d}" for n in range(12)]
MULTI, RETIRED = f"{P}-multi", f"{P}-retired"
BASE = "/api/v1/catalog"


def _category(n: int) -> str:
    return f"{P}-" + ("databases", "compute", "network")[n % 3]


def _owner(n: int) -> str:
    return f"{P}-team-" + ("a", "b")[n % 2]


@pytest.fixture(scope="module")
async def catalog(
    kafka_bootstrap: str,
    catalog_database_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningCatalog]:
    directory: Path = tmp_path_factory.mktemp("api") / "catalog"
    for n, item_id in enumerate(ITEMS):
        tags = ["postgres", "prod"] if n % 4 == 0 else ["redis"] if n % 4 == 1 else ["prod"]
        write_item(
            directory,
            item_document(
                item_id,
                name=f"Service {n:02d}" + (" Replicated Cluster" if n in (3, 7) else ""),
                category=_category(n),
                owner=_owner(n),
                tags=tags,
                description="Managed and backed up" if n == 3 else "A service",
            ),
        )
    write_item(directory, item_document(MULTI, owner=f"{P}-multi", max_size_gb=50))
    write_item(directory, item_document(RETIRED, owner=f"{P}-team-a", category=_category(0)))
    settings = Settings(
        profile=Profile.TEST,
        kafka_bootstrap=kafka_bootstrap,
        database_url=catalog_database_url,
        redis_url=redis_url,
        topic_suffix=f".t-{P}",
        catalog_dir=directory,
    )
    async with running_catalog(settings) as running:
        write_item(
            directory, item_document(MULTI, owner=f"{P}-multi", version="1.1.0", max_size_gb=500)
        )
        write_item(
            directory,
            item_document(
                RETIRED,
                version="1.0.1",
                owner=f"{P}-team-a",
                category=_category(0),
                lifecycle="retired",
            ),
        )
        # Changes are applied directly here (the watcher test lives in test_ingestion).
        await running.ingestion.reload([directory / f"{MULTI}.yaml", directory / f"{RETIRED}.yaml"])
        yield running


async def get(catalog: RunningCatalog, path: str, **params: Any) -> httpx.Response:
    return await catalog.client.get(BASE + path, params=params)


async def ids(catalog: RunningCatalog, **params: Any) -> list[str]:
    response = await get(catalog, "/items", **params)
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


# --- GET /items ---------------------------------------------------------------------------


async def test_list_filters_by_owner_and_returns_summaries(catalog: RunningCatalog) -> None:
    response = await get(catalog, "/items", owner=f"{P}-team-a", limit=100)
    body = response.json()
    assert response.headers["content-type"] == "application/json"
    assert [i["id"] for i in body["items"]] == ITEMS[0::2], "sorted by id, retired left out"
    assert body["total"] == 6 and body["offset"] == 0 and body["next_cursor"] is None
    first = body["items"][0]
    assert first == {
        **first,
        "id": ITEMS[0],
        "version": "1.0.0",
        "name": "Service 00",
        "category": _category(0),
        "owner": f"{P}-team-a",
        "tags": ["postgres", "prod"],
        "lifecycle": "active",
        "status": "active",
        "fulfillment_mode": "manual",
        "approval_required": False,
        "access": {"teams": [], "roles": []},
        "retired_at": None,
    }
    assert first["content_hash"].startswith("sha256:")


async def test_list_filters_by_category_tag_and_text(catalog: RunningCatalog) -> None:
    assert await ids(catalog, category=_category(1)) == ITEMS[1::3]
    assert await ids(catalog, category=_category(1).upper()) == ITEMS[1::3], "case-insensitive"
    assert await ids(catalog, owner=f"{P}-team-b", tag="redis") == [ITEMS[1], ITEMS[5], ITEMS[9]]
    both = await ids(catalog, q=P, tag=["postgres", "prod"])
    assert both == [ITEMS[0], ITEMS[4], ITEMS[8]], "every tag must match"
    assert await ids(catalog, q=f"{P} replicated cluster") == [ITEMS[3], ITEMS[7]]
    assert await ids(catalog, q=f"{P} backed") == [ITEMS[3]], "description is searched"
    assert await ids(catalog, q=f"{P} service", category=_category(0), owner=f"{P}-team-b") == [
        ITEMS[3],
        ITEMS[9],
    ]
    assert await ids(catalog, q=f"{P} nothing-like-this") == []


async def test_list_hides_retired_items_unless_asked(catalog: RunningCatalog) -> None:
    assert RETIRED not in await ids(catalog, owner=f"{P}-team-a", limit=100)
    response = await get(catalog, "/items", owner=f"{P}-team-a", include_retired="true")
    listed = {i["id"]: i for i in response.json()["items"]}
    assert listed[RETIRED]["status"] == "retired" and listed[RETIRED]["retired_at"] is not None
    assert response.json()["total"] == 7


async def test_list_pages_by_offset_and_by_cursor(catalog: RunningCatalog) -> None:
    page = (await get(catalog, "/items", q=P, tag="prod", limit=3, offset=2)).json()
    everything = await ids(catalog, q=P, tag="prod", limit=100)
    assert len(everything) == 9
    assert [i["id"] for i in page["items"]] == everything[2:5]
    assert page["total"] == 9 and page["offset"] == 2 and page["limit"] == 3
    last = (await get(catalog, "/items", q=P, tag="prod", limit=3, offset=7)).json()
    assert [i["id"] for i in last["items"]] == everything[7:] and last["next_cursor"] is None

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"q": P, "tag": "prod", "limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = (await get(catalog, "/items", **params)).json()
        seen.extend(i["id"] for i in body["items"])
        assert body["total"] == 9
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


async def test_list_refuses_bad_paging(catalog: RunningCatalog) -> None:
    bad_cursor = await get(catalog, "/items", cursor="%%%")
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.json()["detail"]
    assert (await get(catalog, "/items", limit=0)).status_code == 422
    assert (await get(catalog, "/items", limit=501)).status_code == 422
    assert (await get(catalog, "/items", offset=-1)).status_code == 422


# --- GET /items/{id} and /versions --------------------------------------------------------


async def test_item_is_the_latest_version_or_the_one_asked_for(catalog: RunningCatalog) -> None:
    latest = (await get(catalog, f"/items/{MULTI}")).json()
    assert latest["version"] == "1.1.0" and latest["status"] == "active"
    assert latest["document"]["metadata"]["version"] == "1.1.0"
    assert latest["metadata"]["owner"] == f"{P}-multi"
    old = (await get(catalog, f"/items/{MULTI}", version="1.0.0")).json()
    assert old["version"] == "1.0.0"
    assert old["document"]["presentation"]["fields"][1]["validation"]["maximum"] == 50


async def test_unknown_items_and_versions_are_404_with_a_reason(catalog: RunningCatalog) -> None:
    for path in ("/items/nope", "/items/nope/versions", "/items/nope/form"):
        response = await get(catalog, path)
        assert response.status_code == 404
        assert response.json() == {"detail": "catalog item 'nope' not found"}
    missing = await get(catalog, f"/items/{MULTI}", version="9.9.9")
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        f"catalog item '{MULTI}' has no version '9.9.9' (known: 1.1.0, 1.0.0)"
    )
    assert (await get(catalog, f"/items/{MULTI}/form", version="9.9.9")).status_code == 404
    posted = await catalog.client.post(f"{BASE}/items/nope/validate", json={"inputs": {}})
    assert posted.status_code == 404


async def test_versions_newest_first(catalog: RunningCatalog) -> None:
    body = (await get(catalog, f"/items/{MULTI}/versions")).json()
    assert body["id"] == MULTI and body["latest"] == "1.1.0" and body["retired"] is False
    assert [(v["version"], v["latest"]) for v in body["versions"]] == [
        ("1.1.0", True),
        ("1.0.0", False),
    ]
    assert all(v["content_hash"].startswith("sha256:") for v in body["versions"])
    assert body["versions"][0]["source_path"] == f"{MULTI}.yaml"
    assert body["versions"][0]["content_hash"] != body["versions"][1]["content_hash"]


# --- forms and validation -----------------------------------------------------------------


async def test_form_of_latest_and_of_a_pinned_version(catalog: RunningCatalog) -> None:
    form = (await get(catalog, f"/items/{MULTI}/form")).json()
    assert set(form) == {
        "schema",
        "uiSchema",
        "version",
        "decommissionable",
        "operations",
        "change_class",
    }
    assert form["version"] == "1.1.0"
    assert form["schema"]["properties"]["size_gb"]["maximum"] == 500
    assert set(form["schema"]["required"]) >= {"name", "environment"}
    assert "ui:order" in form["uiSchema"]
    pinned = (await get(catalog, f"/items/{MULTI}/form", version="1.0.0")).json()
    assert (
        pinned["version"] == "1.0.0" and pinned["schema"]["properties"]["size_gb"]["maximum"] == 50
    )


async def test_validate_returns_per_field_errors(catalog: RunningCatalog) -> None:
    url = f"{BASE}/items/{MULTI}/validate"
    ok = await catalog.client.post(
        url, json={"inputs": {"name": "orders-db", "environment": "dev"}}
    )
    assert ok.status_code == 200
    assert ok.json() == {
        "valid": True,
        "errors": [],
        "item_id": MULTI,
        "version": "1.1.0",
        "inputs": {"name": "orders-db", "environment": "dev", "size_gb": 10},
    }

    bad = await catalog.client.post(url, json={"inputs": {"name": "X!", "size_gb": 501}})
    body = bad.json()
    assert bad.status_code == 200 and body["valid"] is False and "inputs" not in body
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"name", "size_gb", "environment"}
    assert fields["name"] == "lower-case letters, digits and dashes", "the custom message"
    assert "500" in fields["size_gb"]

    # The pinned version validates with its own rules.
    pinned = await catalog.client.post(
        url,
        params={"version": "1.0.0"},
        json={"inputs": {"name": "orders-db", "environment": "dev", "size_gb": 60}},
    )
    assert pinned.json()["version"] == "1.0.0"
    assert [e["field"] for e in pinned.json()["errors"]] == ["size_gb"]


async def test_validate_refuses_a_body_without_inputs(catalog: RunningCatalog) -> None:
    url = f"{BASE}/items/{MULTI}/validate"
    assert (await catalog.client.post(url, json={"name": "x"})).status_code == 422
    assert (await catalog.client.post(url, json={"inputs": ["x"]})).status_code == 422
    assert (await catalog.client.post(url, content=b"{nope")).status_code == 422


async def test_errors_endpoint_is_empty_for_a_clean_directory(catalog: RunningCatalog) -> None:
    assert (await get(catalog, "/errors")).json() == {"count": 0, "errors": [], "documents": []}


# --- the ASGI fast path -------------------------------------------------------------------
# It answers the GET reads before the framework; it must give the routes' bytes exactly,
# and hand everything it does not answer with 200 to the app.

SERVED = [
    "/api/v1/catalog/items",
    f"/api/v1/catalog/items?owner={P}-team-a&limit=2",
    f"/api/v1/catalog/items?q={P}&tag=prod&tag=postgres&include_retired=yes&offset=1&limit=1",
    f"/api/v1/catalog/items?category={P}-compute&include_retired=false&unknown=1",
    f"/api/v1/catalog/items/{ITEMS[0]}",
    f"/api/v1/catalog/items/{MULTI}?version=1.0.0",
    f"/api/v1/catalog/items/{MULTI}/versions",
    f"/api/v1/catalog/items/{MULTI}/form",
    f"/api/v1/catalog/items/{MULTI}/form?version=1.0.0",
]
NOT_SERVED = [
    "/api/v1/catalog/items?limit=0",
    "/api/v1/catalog/items?limit=x",
    "/api/v1/catalog/items?include_retired=maybe",
    "/api/v1/catalog/items?cursor=%25%25",
    "/api/v1/catalog/items/nope",
    f"/api/v1/catalog/items/{MULTI}?version=9.9.9",
    f"/api/v1/catalog/items/{MULTI}/other",
    "/api/v1/catalog/errors",
    "/healthz",
]


class Downstream:
    """The app behind the fast path: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _through(app: Any, url: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
        return await client.get(url, headers={"x-request-id": "req-1"})


@pytest.mark.parametrize("url", SERVED)
async def test_fast_path_serves_the_routes_bytes(catalog: RunningCatalog, url: str) -> None:
    downstream = Downstream()
    fast = await _through(CatalogReadPath(downstream, view=catalog.service), url)
    assert downstream.paths == [], "answered without the app"
    assert fast.status_code == 200
    assert fast.headers["content-type"] == "application/json"
    assert fast.headers["x-request-id"] == "req-1"
    # The FastAPI routes alone (no middleware at all) give the same bytes.
    routed = await _through(AsyncExitStackMiddleware(catalog.app.router), url)
    assert routed.status_code == 200
    assert fast.content == routed.content


@pytest.mark.parametrize("url", NOT_SERVED)
async def test_everything_else_goes_to_the_app(catalog: RunningCatalog, url: str) -> None:
    downstream = Downstream()
    response = await _through(CatalogReadPath(downstream, view=catalog.service), url)
    assert response.status_code == 599 and len(downstream.paths) == 1

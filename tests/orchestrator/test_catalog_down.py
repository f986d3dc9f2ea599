"""The catalog service down (issue #15): the orchestrator reads item versions through the
catalog's API (``pao_orchestrator.adapters.catalog``). A version it has read goes on
working; one it has not is a ``CatalogUnavailable``, a transient error the Kafka consumer
retries (``pao_common.kafka.TRANSIENT_ERRORS``) with nothing recorded, never a rejection;
once the catalog answers, the same message is handled as if nothing had happened."""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
import pytest
from pao_common.catalog_api import CatalogApi
from pao_common.errors import CatalogUnavailable
from pao_common.kafka import TRANSIENT_ERRORS
from pao_common.messages import SubmitRequest
from pao_common.topics import Topics
from pao_devtools.ports import free_port
from pao_orchestrator.adapters.catalog import CatalogServiceItems
from pao_orchestrator.adapters.memory import FixedClock, InMemoryEventStore, MemoryDatabase
from pao_orchestrator.handler import RequestHandler

from tests.orchestrator.items import ALICE, T0, automated_item
from tests.support.catalog import serve_history

pytestmark = pytest.mark.integration


async def _publish(pool: asyncpg.Pool, item_id: str, version: str) -> None:
    doc = automated_item(version=version).to_document()
    doc["metadata"]["id"] = item_id
    await pool.execute(
        "INSERT INTO catalog_item_versions (item_id, version, content_hash, document)"
        " VALUES ($1, $2, 'h', $3::jsonb)",
        item_id,
        version,
        json.dumps(doc),
    )


def _submit(item_id: str, version: str) -> SubmitRequest:
    return SubmitRequest(
        request_id=f"req-{uuid.uuid4().hex[:10]}",
        item_id=item_id,
        item_version=version,
        inputs={"name": "orders"},
        requester=ALICE,
    )


async def test_a_read_version_keeps_working_and_an_unread_one_waits_for_the_catalog(
    db_pool: asyncpg.Pool, database_url: str
) -> None:
    item_id = f"down-{uuid.uuid4().hex[:8]}"
    for version in ("1.0.0", "2.0.0"):
        await _publish(db_pool, item_id, version)
    port = free_port()
    store = InMemoryEventStore(MemoryDatabase())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        items = CatalogServiceItems(CatalogApi(client))
        handler = RequestHandler(store, items, FixedClock(T0), Topics(".t-down"), {})
        async with serve_history(database_url, port=port):
            assert await handler.handle(_submit(item_id, "1.0.0"), "m1") == "committed"
        # the catalog is down
        read = _submit(item_id, "1.0.0")
        assert await handler.handle(read, "m2") == "committed", "a version read before"
        unread = _submit(item_id, "2.0.0")
        with pytest.raises(CatalogUnavailable) as raised:
            await handler.handle(unread, "m3")
        assert isinstance(raised.value, TRANSIENT_ERRORS), "the consumer retries it"
        assert await store.load(unread.request_id) == [], "nothing recorded, nothing refused"
        # the catalog is back: the retried message goes through
        async with serve_history(database_url, port=port):
            assert await handler.handle(unread, "m3") == "committed"
        events = await store.load(unread.request_id)
        assert events[0].event_type == "RequestSubmitted"
        assert events[0].item_version == "2.0.0"  # type: ignore[attr-defined]


async def test_a_list_of_versions_past_its_ttl_is_served_as_last_listed_while_down(
    db_pool: asyncpg.Pool, database_url: str
) -> None:
    item_id = f"stale-{uuid.uuid4().hex[:8]}"
    await _publish(db_pool, item_id, "1.0.0")
    port = free_port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        api = CatalogApi(client, versions_ttl_s=0.0)  # every read asks the catalog
        async with serve_history(database_url, port=port):
            listed = await api.versions(item_id)
            assert listed is not None and listed.latest == "1.0.0"
            assert await api.versions(f"none-{item_id}") is None, "the catalog's 404"
        assert await api.versions(item_id) == listed, "as last listed"
        with pytest.raises(CatalogUnavailable):
            await api.versions(f"none-{item_id}")  # not "no such item": nobody said so
        with pytest.raises(CatalogUnavailable):
            await api.document(item_id, "9.9.9")


def _answering(status: int, body: str, content_type: str, calls: list[str]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(status, text=body, headers={"content-type": content_type})

    return httpx.AsyncClient(base_url="http://catalog", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>404 Not Found</body></html>", "text/html"),  # a proxy's page
        ('{"detail":"Not Found"}', "application/json"),  # a route the catalog lacks
    ],
)
async def test_a_404_that_is_not_the_catalogs_answer_is_an_outage_not_a_missing_item(
    body: str, content_type: str
) -> None:
    calls: list[str] = []
    async with _answering(404, body, content_type, calls) as client:
        api = CatalogApi(client)
        with pytest.raises(CatalogUnavailable, match="404"):
            await api.versions("orders-db")
        with pytest.raises(CatalogUnavailable, match="404"):
            await api.document("orders-db", "1.0.0")


async def test_the_catalogs_own_404_is_a_missing_item() -> None:
    calls: list[str] = []
    missing = '{"detail":"catalog item \'orders-db\' not found"}'
    async with _answering(404, missing, "application/json", calls) as client:
        api = CatalogApi(client)
        assert await api.versions("orders-db") is None
        assert await api.document("orders-db", "1.0.0") is None


async def test_a_hung_catalog_costs_one_call_per_ttl_not_one_per_read() -> None:
    calls: list[str] = []
    listed = {"latest": "1.0.0", "versions": [{"version": "1.0.0", "content_hash": "h"}]}
    hung = False

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if hung:
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(200, json=listed)

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(base_url="http://catalog", transport=transport) as client:
        api = CatalogApi(client, versions_ttl_s=60)
        first = await api.versions("orders-db")
        assert first is not None and first.latest == "1.0.0"
        api._lists["orders-db"] = (0.0, first)  # the list is past its TTL
        hung = True
        for _ in range(5):
            again = await api.versions("orders-db")
            assert again == first, "the last listed versions while the catalog hangs"
        assert len(calls) == 2, f"one call to list, one that timed out, not {len(calls)}"


async def test_a_list_fetched_while_the_item_changed_is_not_kept() -> None:
    calls: list[str] = []
    listed = {"latest": "1.0.0", "versions": [{"version": "1.0.0", "content_hash": "h"}]}
    api: CatalogApi | None = None

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1 and api is not None:
            api.forget("orders-db")  # pao.catalog.events says it changed meanwhile
        return httpx.Response(200, json=listed)

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(base_url="http://catalog", transport=transport) as client:
        api = CatalogApi(client, versions_ttl_s=60)
        assert await api.versions("orders-db") is not None
        assert await api.versions("orders-db") is not None
        assert await api.versions("orders-db") is not None
        assert len(calls) == 2, "asked again after the change, then kept"

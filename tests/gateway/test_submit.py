"""POST /api/v1/requests: auth, access, validation, idempotency, the published command."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from pao_common.cloudevents import decode_headers, from_kafka
from pao_common.identity import CREDENTIAL_EXTENSION
from pao_common.messages import Requester, SubmitRequest, parse_message
from pao_common.service_tokens import TrustedServices

from tests.gateway.conftest import Issuer, RunningGateway, item_document, publish_version
from tests.support.kafka import records_until_sentinels

pytestmark = pytest.mark.integration


def new_item_id() -> str:
    return f"item-{uuid.uuid4().hex[:8]}"


def person(name: str) -> str:
    """A user id of this test alone (the gateway and its database are shared)."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def test_no_or_bad_token_is_401_with_challenge(
    gateway: RunningGateway, issuer: Issuer
) -> None:
    r = await gateway.client.post("/api/v1/requests", json={"item_id": "x", "inputs": {}})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="pao"'
    assert r.json() == {"detail": "missing bearer token"}

    expired = issuer.headers("alice", ttl_s=-120)
    r = await gateway.client.get("/api/v1/requests", headers=expired)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="pao", error="invalid_token"')
    assert "token expired" in r.headers["www-authenticate"]

    wrong_audience = issuer.headers("alice", aud="another-api")
    r = await gateway.client.get("/api/v1/requests/abc", headers=wrong_audience)
    assert r.status_code == 401 and "audience" in r.json()["detail"]

    r = await gateway.client.get("/api/v1/requests", headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401

    r = await gateway.client.get("/api/v1/requests", headers=issuer.headers("alice"))
    assert r.status_code == 200


async def test_submit_publishes_submit_request(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = new_item_id()
    await publish_version(db_pool, item_document(item_id, "1.0.0"))
    await publish_version(db_pool, item_document(item_id, "1.10.0"))
    await publish_version(db_pool, item_document(item_id, "1.9.0"))
    await publish_version(db_pool, item_document(item_id, "2.0.0"), retired=True)
    alice = person("alice")
    headers = issuer.headers(alice, teams=("payments",), email="alice@x.test")

    r = await gateway.client.post(
        "/api/v1/requests",
        json={"item_id": item_id, "inputs": {"name": "orders-db"}},
        headers={**headers, "Idempotency-Key": "k-1"},
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    request_id = accepted["id"]
    assert accepted["status"] == "submitted"
    assert accepted["links"]["self"] == f"/api/v1/requests/{request_id}"
    assert accepted["links"]["stream"] == f"/api/v1/requests/{request_id}/stream"
    assert r.headers["location"] == f"/api/v1/requests/{request_id}"

    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap, gateway.topics.request_commands, [request_id]
    )
    records = [r for r in records if r.key == request_id.encode()]
    assert len(records) == 1
    record = records[0]
    assert record.key == request_id.encode()
    event = from_kafka(decode_headers(record.headers), record.value)
    assert event.type == "pao.request.submit" and event.subject == request_id
    command = parse_message(event)
    assert command == SubmitRequest(
        request_id=request_id,
        item_id=item_id,
        item_version="1.10.0",  # highest semver among the live versions, pinned
        inputs={"name": "orders-db", "size": 1},  # the form's default applied
        requester=Requester(id=alice, email="alice@x.test", teams=("payments",)),
        idempotency_key="k-1",
    )
    # ... signed by the gateway for alice, as the orchestrator verifies it
    signed_for = TrustedServices.from_settings(gateway.settings).verify(
        event.extensions[CREDENTIAL_EXTENSION], event
    )
    assert signed_for == command.requester

    # Not projected by an orchestrator yet: still readable, as submitted.
    r = await gateway.client.get(f"/api/v1/requests/{request_id}", headers=headers)
    assert r.status_code == 200
    view = r.json()
    assert (view["status"], view["item_version"], view["requester"]["id"]) == (
        "submitted",
        "1.10.0",
        alice,
    )
    r = await gateway.client.get(f"/api/v1/requests/{request_id}/events", headers=headers)
    assert r.json() == {"request_id": request_id, "events": []}
    listed = await gateway.client.get("/api/v1/requests", params={"item": item_id}, headers=headers)
    assert [i["id"] for i in listed.json()["items"]] == [request_id]

    # A pinned version is honoured.
    r = await gateway.client.post(
        "/api/v1/requests",
        json={"item_id": item_id, "item_version": "1.0.0", "inputs": {"name": "x"}},
        headers=headers,
    )
    assert r.status_code == 202
    pinned = await gateway.client.get(r.json()["links"]["self"], headers=headers)
    assert pinned.json()["item_version"] == "1.0.0"


async def test_idempotency_same_and_different_body(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = new_item_id()
    await publish_version(db_pool, item_document(item_id))
    alice = issuer.headers(person("alice"), teams=("payments",))
    body = {"item_id": item_id, "inputs": {"name": "cache", "size": 3}}

    first = await gateway.client.post(
        "/api/v1/requests", json=body, headers={**alice, "Idempotency-Key": "same"}
    )
    again = await gateway.client.post(
        "/api/v1/requests", json=body, headers={**alice, "Idempotency-Key": "same"}
    )
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"

    # Without Redis's hint (cleared), PostgreSQL still knows the key.
    redis = gateway.app.state.runtime.redis
    await redis.delete(*await redis.keys(f"{gateway.settings.redis_prefix}gw:idem:*"))
    durable = await gateway.client.post(
        "/api/v1/requests",
        json={"inputs": {"size": 3, "name": "cache"}, "item_id": item_id},  # same, reordered
        headers={**alice, "Idempotency-Key": "same"},
    )
    assert durable.status_code == 202 and durable.json()["id"] == first.json()["id"]

    other = await gateway.client.post(
        "/api/v1/requests",
        json={**body, "inputs": {"name": "cache", "size": 4}},
        headers={**alice, "Idempotency-Key": "same"},
    )
    assert other.status_code == 409
    assert "different body" in other.json()["detail"]

    # Keys are per requester: bob's "same" is his own request.
    bob = await gateway.client.post(
        "/api/v1/requests",
        json=body,
        headers={**issuer.headers(person("bob")), "Idempotency-Key": "same"},
    )
    assert bob.status_code == 202 and bob.json()["id"] != first.json()["id"]

    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap,
        gateway.topics.request_commands,
        [first.json()["id"], bob.json()["id"]],
    )
    ids = [json.loads(r.value)["request_id"] for r in records]
    ids = [i for i in ids if i in (first.json()["id"], bob.json()["id"])]
    assert sorted(ids) == sorted([first.json()["id"], bob.json()["id"]]), "published once each"
    count = await db_pool.fetchval(
        "SELECT count(*) FROM gateway_submissions WHERE item_id = $1", item_id
    )
    assert count == 2


async def test_invalid_inputs_are_422_per_field(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = new_item_id()
    await publish_version(db_pool, item_document(item_id))
    headers = issuer.headers("alice")

    r = await gateway.client.post(
        "/api/v1/requests",
        json={"item_id": item_id, "inputs": {"name": "Bad Name!", "size": 99}},
        headers=headers,
    )
    assert r.status_code == 422
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert set(errors) == {"name", "size"}
    assert errors["name"]["message"] == "lower-case letters, digits and dashes"
    assert errors["name"]["in"] == "inputs"
    assert "10" in errors["size"]["message"]

    r = await gateway.client.post(
        "/api/v1/requests", json={"item_id": item_id, "inputs": {}}, headers=headers
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["name"]

    r = await gateway.client.post(
        "/api/v1/requests", json={"item_id": "no-such-item", "inputs": {}}, headers=headers
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "item_id", "message": "no catalog item 'no-such-item'", "in": "body"}
    ]

    r = await gateway.client.post(
        "/api/v1/requests",
        json={"item_id": item_id, "item_version": "9.9.9", "inputs": {"name": "ok"}},
        headers=headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_version"

    r = await gateway.client.post(
        "/api/v1/requests", json={"inputs": {}, "colour": "red"}, headers=headers
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"item_id", "colour"}

    count = await db_pool.fetchval(
        "SELECT count(*) FROM gateway_submissions WHERE item_id = $1", item_id
    )
    assert count == 0, "nothing invalid is recorded"


async def test_catalog_access_rules_are_403(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = new_item_id()
    await publish_version(
        db_pool, item_document(item_id, access={"teams": ["dba"], "roles": ["db-owner"]})
    )
    body = {"item_id": item_id, "inputs": {"name": "orders"}}

    r = await gateway.client.post(
        "/api/v1/requests", json=body, headers=issuer.headers("eve", teams=("web",))
    )
    assert r.status_code == 403
    assert r.json()["detail"] == f"{item_id} may only be requested by teams dba or roles db-owner"

    for allowed in (
        issuer.headers("dan", teams=("dba",)),
        issuer.headers("olga", roles=("db-owner",)),
        issuer.headers("root", roles=("platform-admin",)),
    ):
        r = await gateway.client.post("/api/v1/requests", json=body, headers=allowed)
        assert r.status_code == 202, r.text


async def test_concurrent_retries_make_one_request(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = new_item_id()
    await publish_version(db_pool, item_document(item_id))
    headers = {**issuer.headers(person("ann")), "Idempotency-Key": "double-click"}
    body = {"item_id": item_id, "inputs": {"name": "twice"}}
    answers = await asyncio.gather(
        *(gateway.client.post("/api/v1/requests", json=body, headers=headers) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    rows = await db_pool.fetchval(
        "SELECT count(*) FROM gateway_submissions WHERE item_id = $1", item_id
    )
    assert rows == 1
    (request_id,) = {a.json()["id"] for a in answers}
    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap, gateway.topics.request_commands, [request_id]
    )
    assert len([r for r in records if r.key == request_id.encode()]) == 1

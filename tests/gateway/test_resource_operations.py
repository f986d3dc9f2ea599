"""POST /api/v1/resources/{id}/operations/{op}: a request like any other, one at a time per
resource; every hostile case answered with its own status and nothing claimed or sent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from pao_common.cloudevents import decode_headers, from_kafka
from pao_common.identity import CREDENTIAL_EXTENSION
from pao_common.messages import SubmitRequest, parse_message

from tests.gateway.conftest import Issuer, RunningGateway, eventually, insert_resource, insert_view
from tests.gateway.test_live import publish_request_event
from tests.gateway.test_resources import (
    ADMINS_ONLY,
    DECOMMISSION,
    UPDATE,
    item_with_operations,
    unique,
)
from tests.support.kafka import records_until_sentinels

pytestmark = pytest.mark.integration


def run_path(resource_id: str, operation: str) -> str:
    return f"/api/v1/resources/{resource_id}/operations/{operation}"


async def claim_of(pool: asyncpg.Pool, resource_id: str) -> str | None:
    value = await pool.fetchval(
        "SELECT request_id FROM gateway_resource_claims WHERE resource_id = $1", resource_id
    )
    return str(value) if value is not None else None


async def submissions_of(pool: asyncpg.Pool, resource_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT request_id, operation, item_id, item_version FROM gateway_submissions"
        " WHERE resource_id = $1 ORDER BY submitted_at",
        resource_id,
    )
    return [dict(r) for r in rows]


async def published_operations(gateway: RunningGateway, request_ids: list[str]) -> list[Any]:
    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap, gateway.topics.request_commands, request_ids
    )
    return [r for r in records if r.key is not None and r.key.decode() in request_ids]


async def test_an_operation_is_published_as_a_request_on_its_resource(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION)
    team = unique("payments")
    alice = unique("alice")
    resource_id = await insert_resource(
        db_pool, item_id=item_id, owner_team=team, inputs={"name": "orders", "size": 4}
    )
    member = issuer.headers(alice, teams=(team,), email="alice@x.test")
    keyed = {**member, "Idempotency-Key": "resize-1"}

    r = await gateway.client.post(
        run_path(resource_id, "update"), json={"inputs": {"reason": "more"}}, headers=keyed
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    request_id = accepted["id"]
    assert accepted["status"] == "submitted"
    assert accepted["links"]["self"] == f"/api/v1/requests/{request_id}"
    assert accepted["links"]["stream"] == f"/api/v1/requests/{request_id}/stream"
    assert accepted["links"]["cancel"] == f"/api/v1/requests/{request_id}/cancel"
    assert r.headers["location"] == f"/api/v1/requests/{request_id}"
    assert "idempotent-replayed" not in r.headers

    # The same key and body: the same request, nothing new made or sent.
    again = await gateway.client.post(
        run_path(resource_id, "update"), json={"inputs": {"reason": "more"}}, headers=keyed
    )
    assert again.status_code == 202 and again.json()["id"] == request_id
    assert again.headers["idempotent-replayed"] == "true"
    # The same key, another body (inputs, or another operation): 409.
    other = await gateway.client.post(
        run_path(resource_id, "update"), json={"inputs": {"reason": "less"}}, headers=keyed
    )
    assert other.status_code == 409, other.text
    assert request_id in other.json()["detail"]
    other = await gateway.client.post(run_path(resource_id, "decommission"), headers=keyed)
    assert other.status_code == 409 and "different body" in other.json()["detail"]

    # One at a time: a second operation is 409 naming the running request.
    second = await gateway.client.post(run_path(resource_id, "decommission"), headers=member)
    assert second.status_code == 409, second.text
    assert second.json()["running_request"] == request_id
    assert request_id in second.json()["detail"]

    # The request reads like any other (pending in the gateway until projected).
    shown = await gateway.client.get(f"/api/v1/requests/{request_id}", headers=member)
    assert shown.status_code == 200 and shown.json()["status"] == "submitted"
    assert await claim_of(db_pool, resource_id) == request_id
    assert await submissions_of(db_pool, resource_id) == [
        {
            "request_id": request_id,
            "operation": "update",
            "item_id": item_id,
            "item_version": "1.0.0",
        }
    ]

    # Published once: SubmitRequest naming the resource and the operation, the shared field
    # pre-filled from the resource, with the requester's credential.
    [record] = await published_operations(gateway, [request_id])
    headers = decode_headers(record.headers)
    event = from_kafka(headers, record.value)
    command = parse_message(event, (SubmitRequest,))
    assert isinstance(command, SubmitRequest)
    assert (command.resource_id, command.operation) == (resource_id, "update")
    assert (command.item_id, command.item_version) == (item_id, "1.0.0")
    assert command.inputs == {"size": 4, "reason": "more"}
    assert command.requester.id == alice and command.idempotency_key == "resize-1"
    assert CREDENTIAL_EXTENSION in event.extensions


async def test_hostile_operation_requests_are_refused_and_claim_nothing(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION, ADMINS_ONLY)
    team = unique("payments")
    resource_id = await insert_resource(
        db_pool, item_id=item_id, owner_team=team, inputs={"name": "orders", "size": 4}
    )
    member = issuer.headers(unique("alice"), teams=(team,))

    # An operation the item does not declare: 404 naming the ones it does.
    r = await gateway.client.post(run_path(resource_id, "explode"), headers=member)
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == (
        f"{item_id} 1.0.0 has no operation 'explode' (it declares: update, decommission, failover)"
    )

    # Another team's resource reads exactly as one that does not exist.
    outsider = issuer.headers(unique("eve"), teams=(unique("search"),))
    r = await gateway.client.post(
        run_path(resource_id, "update"), json={"inputs": {"reason": "x"}}, headers=outsider
    )
    assert r.status_code == 404 and r.json() == {"detail": f"no resource {resource_id}"}
    unknown = str(uuid.uuid4())
    r = await gateway.client.post(run_path(unknown, "update"), headers=member)
    assert r.status_code == 404 and r.json() == {"detail": f"no resource {unknown}"}
    r = await gateway.client.post(run_path(resource_id, "explode"), headers=outsider)
    assert r.status_code == 404 and r.json() == {"detail": f"no resource {resource_id}"}

    # An operation whose access excludes the caller: 403 saying who may.
    r = await gateway.client.post(run_path(resource_id, "failover"), headers=member)
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == f"{item_id} failover may only be run by roles dba"

    # Fields the operation does not ask for: 422 naming them (name is the item's, not
    # update's; colour is nobody's); a value out of range: 422 on its field.
    r = await gateway.client.post(
        run_path(resource_id, "update"),
        json={"inputs": {"reason": "x", "name": "renamed", "colour": "red"}},
        headers=member,
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert {(e["field"], e["message"]) for e in body["errors"]} == {
        ("name", "unknown field"),
        ("colour", "unknown field"),
    }
    assert "update does not ask for" in body["detail"]
    assert "name" in body["detail"] and "colour" in body["detail"]
    r = await gateway.client.post(
        run_path(resource_id, "update"), json={"inputs": {"size": 99}}, headers=member
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"size", "reason"}
    r = await gateway.client.post(
        run_path(resource_id, "update"), json={"inputs": {}, "force": True}, headers=member
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "force"

    # Decommissioned: 409.
    gone = await insert_resource(db_pool, item_id=item_id, owner_team=team, status="decommissioned")
    r = await gateway.client.post(run_path(gone, "decommission"), headers=member)
    assert r.status_code == 409, r.text
    assert r.json()["detail"].endswith("is decommissioned")
    assert "running_request" not in r.json()

    # Busy in the read model (the orchestrator recorded another operation): 409 naming it.
    running = str(uuid.uuid4())
    busy = await insert_resource(
        db_pool,
        item_id=item_id,
        owner_team=team,
        status="updating",
        active_request_id=running,
        active_operation="update",
    )
    r = await gateway.client.post(run_path(busy, "decommission"), headers=member)
    assert r.status_code == 409, r.text
    assert r.json()["running_request"] == running
    assert f"busy with request {running} (update)" in r.json()["detail"]
    # Still provisioning: busy with its provisioning request.
    provisioning = str(uuid.uuid4())
    young = await insert_resource(
        db_pool,
        item_id=item_id,
        owner_team=team,
        status="provisioning",
        active_request_id=provisioning,
    )
    r = await gateway.client.post(run_path(young, "decommission"), headers=member)
    assert r.status_code == 409 and r.json()["running_request"] == provisioning

    # None of them claimed a resource or left a submission.
    for rid in (resource_id, gone, busy, young):
        assert await claim_of(db_pool, rid) is None
        assert await submissions_of(db_pool, rid) == []

    # The operation's own access, passed: a dba of the owner team runs failover.
    dba = issuer.headers(unique("dana"), teams=(team,), roles=("dba",))
    r = await gateway.client.post(run_path(resource_id, "failover"), headers=dba)
    assert r.status_code == 202, r.text
    # A platform admin of no team sees (and may run on) every team's resource: here busy.
    admin = issuer.headers(unique("root"), roles=("platform-admin",))
    r = await gateway.client.post(run_path(resource_id, "decommission"), headers=admin)
    assert r.status_code == 409 and r.json()["running_request"] == (
        await claim_of(db_pool, resource_id)
    )


async def test_an_operation_stage_nobody_can_approve_is_refused_with_422(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    """The operation's own approval, with the rule the orchestrator decides with
    (``pao_common.approvals``): its manager stage for a token without a manager claim is
    422 before anything is claimed; the resource owner's team is the resource's."""
    managed = {
        **DECOMMISSION,
        "approval": [
            {"name": "manager", "approvers": {"requester_manager": True}},
            {"name": "owners", "approvers": {"resource_owner_team": True}, "rule": "all"},
        ],
    }
    item_id = await item_with_operations(db_pool, managed)
    team = unique("payments")
    resource_id = await insert_resource(db_pool, item_id=item_id, owner_team=team)
    leo = unique("leo")

    r = await gateway.client.post(
        run_path(resource_id, "decommission"), headers=issuer.headers(leo, teams=(team,))
    )
    assert r.status_code == 422, r.text
    why = (
        "approval stage 1 (manager): nobody can approve it: it names the requester's manager,"
        f" and {leo} has no manager on record (the token's manager claim)"
    )
    assert r.json()["errors"] == [{"field": "approval", "message": why, "in": "item"}]
    assert await claim_of(db_pool, resource_id) is None
    assert await submissions_of(db_pool, resource_id) == []

    with_manager = issuer.headers(leo, teams=(team,), manager="mia")
    r = await gateway.client.post(run_path(resource_id, "decommission"), headers=with_manager)
    assert r.status_code == 202, r.text


async def test_a_claim_is_freed_when_its_request_ends_or_goes_stale(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION)
    team = unique("payments")
    alice = unique("alice")
    resource_id = await insert_resource(db_pool, item_id=item_id, owner_team=team)
    member = issuer.headers(alice, teams=(team,))
    claims = gateway.app.state.gateway.resources.claims

    async def run() -> str:
        r = await gateway.client.post(
            run_path(resource_id, "update"), json={"inputs": {"reason": "r"}}, headers=member
        )
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    async def refused_naming(holder: str) -> None:
        r = await gateway.client.post(run_path(resource_id, "decommission"), headers=member)
        assert r.status_code == 409 and r.json()["running_request"] == holder, r.text

    # The holder ended per the request view: the next operation takes the claim over.
    first = await run()
    await refused_naming(first)
    await insert_view(
        db_pool, first, requester=alice, teams=(team,), status="completed", item_id=item_id
    )
    second = await run()
    assert await claim_of(db_pool, resource_id) == second
    await refused_naming(second)

    # The holder's terminal event on pao.requests.events releases the claim.
    await publish_request_event(
        gateway.settings.kafka_bootstrap,
        gateway.topics.request_events,
        second,
        4,
        "rejected",
        "RequestRejected",
    )

    async def released() -> bool:
        return await claim_of(db_pool, resource_id) is None

    await eventually(released, timeout_s=60)
    third = await run()

    # A claim older than PAO_GATEWAY_RESOURCE_CLAIM_STALE_S is taken over.
    await refused_naming(third)
    await db_pool.execute(
        "UPDATE gateway_resource_claims SET claimed_at = now() - interval '2 hours'"
        " WHERE resource_id = $1",
        resource_id,
    )
    fourth = await run()
    assert await claim_of(db_pool, resource_id) == fourth

    # The sweep deletes the claims of ended requests (a terminal event missed).
    await insert_view(
        db_pool, fourth, requester=alice, teams=(team,), status="failed", item_id=item_id
    )
    assert await claims.sweep() >= 1
    assert await claim_of(db_pool, resource_id) is None
    assert not claims.holds(fourth)
    assert [s["request_id"] for s in await submissions_of(db_pool, resource_id)] == [
        first,
        second,
        third,
        fourth,
    ]


async def test_racing_posts_on_one_replica_one_wins(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION)
    team = unique("payments")
    resource_id = await insert_resource(db_pool, item_id=item_id, owner_team=team)
    people = [issuer.headers(unique(f"p{n}"), teams=(team,)) for n in range(8)]
    answers = await asyncio.gather(
        *(
            gateway.client.post(
                run_path(resource_id, "update"), json={"inputs": {"reason": "r"}}, headers=h
            )
            for h in people
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] + [409] * 7, [a.text for a in answers]
    [winner] = [a.json()["id"] for a in answers if a.status_code == 202]
    assert {a.json()["running_request"] for a in answers if a.status_code == 409} == {winner}
    assert [s["request_id"] for s in await submissions_of(db_pool, resource_id)] == [winner]


async def test_the_relay_publishes_an_operation_that_never_left(
    gateway: RunningGateway, db_pool: asyncpg.Pool
) -> None:
    """As if the gateway died between recording an operation and publishing it: the relay
    sends the same SubmitRequest, resource and operation included."""
    request_id, message_id, resource_id = (str(uuid.uuid4()) for _ in range(3))
    await db_pool.execute(
        "INSERT INTO gateway_submissions (request_id, message_id, requester_id, requester_teams,"
        " requester, idempotency_key, body_hash, item_id, item_version, inputs, submitted_at,"
        " topic, resource_id, operation) VALUES ($1, $2, 'ann', '{payments}',"
        " '{\"id\": \"ann\", \"teams\": [\"payments\"]}', NULL, 'h', 'pg', '1.0.0',"
        " '{\"size\": 3}', now() - interval '1 minute', $3, $4, 'update')",
        request_id,
        message_id,
        gateway.topics.request_commands,
        resource_id,
    )

    async def published() -> bool:
        return bool(
            await db_pool.fetchval(
                "SELECT published_at IS NOT NULL FROM gateway_submissions WHERE request_id = $1",
                request_id,
            )
        )

    await eventually(published)
    [record] = await published_operations(gateway, [request_id])
    assert decode_headers(record.headers)["ce_id"] == message_id
    command = parse_message(
        from_kafka(decode_headers(record.headers), record.value), (SubmitRequest,)
    )
    assert isinstance(command, SubmitRequest)
    assert (command.resource_id, command.operation, command.inputs) == (
        resource_id,
        "update",
        {"size": 3},
    )

"""Reading requests from the orchestrator's read model: visibility, filters, pages,
the event log, and the approve / reject / cancel commands."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from pao_common.cloudevents import decode_headers, from_kafka
from pao_common.messages import ApproveRequest, CancelRequest, RejectRequest, parse_message
from pao_gateway.identity import User
from pao_gateway.request_reads import RequestFilter, RequestReader
from pao_gateway.visibility import can_see

from tests.gateway.conftest import Issuer, RunningGateway, insert_view
from tests.support.kafka import records_until_sentinels

pytestmark = pytest.mark.integration


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:8]}" for _ in range(n)]


async def world(pool: asyncpg.Pool) -> dict[str, Any]:
    """Requests of several people and teams, one awaiting approval by team sec."""
    tag = uuid.uuid4().hex[:6]
    who = {n: f"{n}-{tag}" for n in ("ann", "ben", "cid", "dee", "eve", "root")}
    team = {n: f"{n}-{tag}" for n in ("pay", "web", "sec", "ops")}
    req = dict(zip(("ann1", "ann2", "ben1", "cid1"), ids("r", 4), strict=True))
    item = f"item-{tag}"
    await insert_view(pool, req["ann1"], requester=who["ann"], teams=(team["pay"],), item_id=item)
    await insert_view(
        pool,
        req["ann2"],
        requester=who["ann"],
        teams=(team["pay"],),
        status="completed",
        item_id=item,
        submitted_at_offset_s=1,
    )
    await insert_view(
        pool,
        req["ben1"],
        requester=who["ben"],
        teams=(team["web"],),
        status="awaiting_approval",
        approval={
            "required": True,
            "approver_teams": [team["sec"]],
            "approver_users": [who["dee"]],
            "decided_by": None,
            "comment": None,
            "expires_at": None,
        },
        item_id=item,
        submitted_at_offset_s=2,
    )
    await insert_view(
        pool,
        req["cid1"],
        requester=who["cid"],
        teams=(team["ops"], team["pay"]),
        status="failed",
        item_id=item,
        submitted_at_offset_s=3,
    )
    return {"who": who, "team": team, "req": req, "item": item}


async def test_visibility_rules(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    w = await world(db_pool)
    who, team, req = w["who"], w["team"], w["req"]
    users = {
        "ann": issuer.headers(who["ann"], teams=(team["pay"],)),
        "ben": issuer.headers(who["ben"], teams=(team["web"],)),
        "sec": issuer.headers(f"sec-member-{uuid.uuid4().hex[:4]}", teams=(team["sec"],)),
        "dee": issuer.headers(who["dee"]),
        "eve": issuer.headers(who["eve"], teams=("nobody",)),
        "root": issuer.headers(who["root"], roles=("platform-admin",)),
    }
    expected = {
        "ann": {req["ann1"], req["ann2"], req["cid1"]},  # own + team pay (cid shares it)
        "ben": {req["ben1"]},
        "sec": {req["ben1"]},  # approver team
        "dee": {req["ben1"]},  # approver user
        "eve": set(),
        "root": set(req.values()),
    }
    for name, headers in users.items():
        listed = await gateway.client.get(
            "/api/v1/requests", params={"item": w["item"]}, headers=headers
        )
        assert listed.status_code == 200
        assert {i["id"] for i in listed.json()["items"]} == expected[name], name
        for request_id in req.values():
            one = await gateway.client.get(f"/api/v1/requests/{request_id}", headers=headers)
            assert one.status_code == (200 if request_id in expected[name] else 404), (
                name,
                request_id,
            )


async def test_sql_filter_agrees_with_can_see(db_pool: asyncpg.Pool) -> None:
    w = await world(db_pool)
    who, team = w["who"], w["team"]
    reader = RequestReader(db_pool)
    callers = [
        User(id=who["ann"], teams=(team["pay"],)),
        User(id=who["dee"]),
        User(id="x", teams=(team["sec"], team["ops"])),
        User(id="y", roles=("platform-admin",)),
        User(id="z"),
    ]
    admin = User(id="admin", roles=("platform-admin",))
    rows = await reader.page(admin, RequestFilter(item_id=w["item"]), limit=50, offset=0)
    assert len(rows) == 4
    for caller in callers:
        listed = await reader.page(caller, RequestFilter(item_id=w["item"]), limit=50, offset=0)
        assert {r["request_id"] for r in listed} == {
            r["request_id"] for r in rows if can_see(caller, r)
        }, caller


async def test_filters_pages_and_shape(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    w = await world(db_pool)
    req = w["req"]
    root = issuer.headers("root", roles=("platform-admin",))
    base = {"item": w["item"]}

    async def listed(**params: Any) -> list[str]:
        r = await gateway.client.get("/api/v1/requests", params={**base, **params}, headers=root)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    # newest first
    assert await listed() == [req["cid1"], req["ben1"], req["ann2"], req["ann1"]]
    assert await listed(status="completed") == [req["ann2"]]
    assert await listed(status=["completed", "failed"]) == [req["cid1"], req["ann2"]]
    assert await listed(requester=w["who"]["ann"]) == [req["ann2"], req["ann1"]]
    assert await listed(team=w["team"]["pay"]) == [req["cid1"], req["ann2"], req["ann1"]]

    page1 = await gateway.client.get("/api/v1/requests", params={**base, "limit": 3}, headers=root)
    body = page1.json()
    assert [i["id"] for i in body["items"]] == [req["cid1"], req["ben1"], req["ann2"]]
    assert body["next"] is not None
    page2 = await gateway.client.get(body["next"], headers=root)
    assert [i["id"] for i in page2.json()["items"]] == [req["ann1"]]
    assert page2.json()["next"] is None

    bad = await gateway.client.get("/api/v1/requests", params={"limit": 0}, headers=root)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"

    one = (await gateway.client.get(f"/api/v1/requests/{req['ben1']}", headers=root)).json()
    assert one["status"] == "awaiting_approval"
    assert one["approval"]["approver_teams"] == [w["team"]["sec"]]
    assert one["requester"] == {
        "id": w["who"]["ben"],
        "email": None,
        "name": None,
        "teams": [w["team"]["web"]],
    }
    assert one["version"] == 3 and one["item_version"] == "1.0.0"
    assert one["links"]["approve"] == f"/api/v1/requests/{req['ben1']}/approve"


async def test_event_log_in_order(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    (request_id,) = ids("r", 1)
    owner = f"ann-{request_id}"
    await insert_view(db_pool, request_id, requester=owner)
    for version, event_type in [(2, "StepStarted"), (1, "RequestSubmitted"), (3, "StepSucceeded")]:
        await db_pool.execute(
            "INSERT INTO request_events (stream_id, version, event_type, schema_version, data,"
            " message_id, recorded_at) VALUES ($1, $2, $3, 1, $4, $5, now())",
            request_id,
            version,
            event_type,
            json.dumps({"n": version}),
            uuid.uuid4().hex,
        )
    r = await gateway.client.get(
        f"/api/v1/requests/{request_id}/events", headers=issuer.headers(owner)
    )
    assert r.status_code == 200
    events = r.json()["events"]
    assert [(e["version"], e["event_type"], e["data"]) for e in events] == [
        (1, "RequestSubmitted", {"n": 1}),
        (2, "StepStarted", {"n": 2}),
        (3, "StepSucceeded", {"n": 3}),
    ]
    stranger = await gateway.client.get(
        f"/api/v1/requests/{request_id}/events", headers=issuer.headers("stranger")
    )
    assert stranger.status_code == 404


async def test_approve_reject_cancel(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    w = await world(db_pool)
    who, team, req = w["who"], w["team"], w["req"]
    approver = issuer.headers(f"sec-{uuid.uuid4().hex[:4]}", teams=(team["sec"],))
    requester = issuer.headers(who["ben"], teams=(team["web"],))

    r = await gateway.client.post(f"/api/v1/requests/{req['ben1']}/approve", headers=requester)
    assert r.status_code == 403, "the requester is no approver"
    also_approver = issuer.headers(who["ben"], teams=(team["web"], team["sec"]))
    r = await gateway.client.post(f"/api/v1/requests/{req['ben1']}/approve", headers=also_approver)
    assert r.status_code == 403 and "approved by someone else" in r.json()["detail"]
    r = await gateway.client.post(
        f"/api/v1/requests/{req['ben1']}/approve", headers=issuer.headers("outsider")
    )
    assert r.status_code == 404, "an outsider does not even see it"
    r = await gateway.client.post(
        f"/api/v1/requests/{req['ben1']}/approve", json={"comment": "ok"}, headers=approver
    )
    assert r.status_code == 202 and r.json()["id"] == req["ben1"]
    r = await gateway.client.post(
        f"/api/v1/requests/{req['ben1']}/reject",
        json={"comment": "no budget"},
        headers=issuer.headers(who["dee"]),
    )
    assert r.status_code == 202

    # Not awaiting approval: 409 (for an approver), whatever the body.
    r = await gateway.client.post(
        f"/api/v1/requests/{req['ann1']}/approve",
        headers=issuer.headers("root", roles=("platform-admin",)),
    )
    assert r.status_code == 409 and "not awaiting_approval" in r.json()["detail"]

    ann = issuer.headers(who["ann"], teams=(team["pay"],))
    r = await gateway.client.post(
        f"/api/v1/requests/{req['ann1']}/cancel", json={"reason": "not needed"}, headers=ann
    )
    assert r.status_code == 202 and r.json()["status"] == "in_progress"
    r = await gateway.client.post(f"/api/v1/requests/{req['ann2']}/cancel", headers=ann)
    assert r.status_code == 409, "completed requests cannot be cancelled"
    r = await gateway.client.post(f"/api/v1/requests/{req['ben1']}/cancel", headers=approver)
    assert r.status_code == 403, "approvers do not cancel"

    records = await records_until_sentinels(
        gateway.settings.kafka_bootstrap,
        gateway.topics.request_commands,
        [req["ben1"], req["ann1"]],
    )
    parsed = [
        parse_message(from_kafka(decode_headers(r.headers), r.value))
        for r in records
        if r.key in (req["ben1"].encode(), req["ann1"].encode())
    ]
    commands = [c for c in parsed if isinstance(c, (ApproveRequest, RejectRequest, CancelRequest))]
    assert len(commands) == len(parsed), parsed
    assert [type(c) for c in commands if c.request_id == req["ben1"]] == [
        ApproveRequest,
        RejectRequest,
    ]
    approve, reject = (c for c in commands if c.request_id == req["ben1"])
    assert isinstance(approve, ApproveRequest) and approve.comment == "ok"
    assert approve.by.teams == (team["sec"],)
    assert isinstance(reject, RejectRequest) and reject.by.id == who["dee"]
    assert reject.comment == "no budget"
    (cancel,) = (c for c in commands if c.request_id == req["ann1"])
    assert isinstance(cancel, CancelRequest) and cancel.reason == "not needed"
    assert cancel.by.id == who["ann"]

"""/api/v1/resources: list (filters, keyset pages, visibility), show (404 for another
team), the operations allowed now with their forms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.gateway.conftest import (
    Issuer,
    RunningGateway,
    insert_resource,
    item_document,
    publish_version,
)

pytestmark = pytest.mark.integration
BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

UPDATE: dict[str, Any] = {
    "id": "update",
    "title": "Resize",
    "presentation": {
        "fields": [
            {
                "id": "size",
                "type": "integer",
                "label": "Size",
                "validation": {"minimum": 1, "maximum": 10},
            },
            {"id": "reason", "type": "string", "label": "Why", "required": True},
        ]
    },
    "fulfillment": {
        "mode": "automated",
        "automated": {
            "steps": [
                {
                    "id": "resize",
                    "action": "debug.log",
                    "with": {"message": "{{ resource.name }} -> {{ inputs.size }}"},
                }
            ]
        },
    },
}
DECOMMISSION: dict[str, Any] = {
    "id": "decommission",
    "title": "Decommission",
    "fulfillment": {
        "mode": "automated",
        "automated": {"steps": [{"id": "drop", "action": "debug.log", "with": {"message": "bye"}}]},
    },
}
ADMINS_ONLY: dict[str, Any] = {
    "id": "failover",
    "title": "Fail over",
    "access": {"roles": ["dba"]},
    "fulfillment": DECOMMISSION["fulfillment"],
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def item_with_operations(pool: asyncpg.Pool, *operations: dict[str, Any]) -> str:
    item_id = unique("db")
    await publish_version(pool, item_document(item_id, operations=list(operations)))
    return item_id


async def test_list_filters_pages_and_visibility(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION)
    other_item = await item_with_operations(db_pool, UPDATE)
    team, other_team = unique("payments"), unique("search")
    alice, bob = unique("alice"), unique("bob")
    ids = []
    for n in range(5):  # the last two share a created_at: resource_id DESC orders them
        ids.append(
            await insert_resource(
                db_pool,
                item_id=item_id,
                owner_team=team,
                requester=alice if n % 2 == 0 else bob,
                status="decommissioned" if n == 1 else "active",
                created_at=BASE + timedelta(seconds=min(n, 3)),
            )
        )
    ids.append(
        await insert_resource(
            db_pool, item_id=other_item, owner_team=team, created_at=BASE - timedelta(seconds=5)
        )
    )
    theirs = await insert_resource(db_pool, item_id=item_id, owner_team=other_team)
    newest_first = [
        *sorted(ids[3:5], reverse=True),
        ids[2],
        ids[1],
        ids[0],
        ids[5],
    ]
    member = issuer.headers(alice, teams=(team,))

    r = await gateway.client.get("/api/v1/resources", params={"team": team}, headers=member)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [i["id"] for i in page["items"]] == newest_first
    assert page["next"] is None
    first = page["items"][0]
    assert first["owner_team"] == team and first["links"]["operations"].endswith("/operations")
    assert first["requests"] is None  # the history is in GET /resources/{id}

    # Keyset pages of two: every resource once, in order, then no next link.
    seen: list[str] = []
    url: str | None = f"/api/v1/resources?team={team}&limit=2"
    while url is not None:
        r = await gateway.client.get(url, headers=member)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        url = page["next"]
    assert seen == newest_first

    # Filters: item, status (repeatable), owner (the requester).
    async def listed(**params: Any) -> list[str]:
        r = await gateway.client.get("/api/v1/resources", params=params, headers=member)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await listed(team=team, item=other_item) == [ids[5]]
    assert await listed(team=team, status="decommissioned") == [ids[1]]
    assert set(await listed(team=team, status=["decommissioned", "active"])) == set(ids)
    assert await listed(team=team, item=item_id, owner=bob) == [ids[3], ids[1]]
    # Without a team filter: the caller's teams, never another's.
    mine = await listed(item=item_id)
    assert theirs not in mine and set(mine) == set(ids[:5])

    # Another team's member, and a user of no team, see none of them.
    outsider = issuer.headers(unique("eve"), teams=(other_team,))
    r = await gateway.client.get("/api/v1/resources", params={"team": team}, headers=outsider)
    assert r.status_code == 200 and r.json()["items"] == []
    r = await gateway.client.get("/api/v1/resources", params={"item": item_id}, headers=outsider)
    assert [i["id"] for i in r.json()["items"]] == [theirs]
    nobody = issuer.headers(unique("nobody"))
    r = await gateway.client.get("/api/v1/resources", params={"item": item_id}, headers=nobody)
    assert r.json()["items"] == []
    # A platform admin sees every team's.
    admin = issuer.headers(unique("root"), roles=("platform-admin",))
    r = await gateway.client.get("/api/v1/resources", params={"item": item_id}, headers=admin)
    assert {i["id"] for i in r.json()["items"]} == {*ids[:5], theirs}

    r = await gateway.client.get("/api/v1/resources", params={"cursor": "junk"}, headers=member)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "cursor"


async def test_show_is_404_for_another_team_and_unknown_ids(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION)
    team = unique("payments")
    op_request = str(uuid.uuid4())
    history = [
        {
            "request_id": str(uuid.uuid4()),
            "operation": None,
            "status": "completed",
            "submitted_at": "2026-01-05T10:00:00+00:00",
            "ended_at": "2026-01-05T10:05:00+00:00",
        },
        {
            "request_id": op_request,
            "operation": "update",
            "status": "in_progress",
            "submitted_at": "2026-01-06T10:00:00+00:00",
            "ended_at": None,
        },
    ]
    resource_id = await insert_resource(
        db_pool,
        item_id=item_id,
        owner_team=team,
        status="updating",
        outputs={"endpoint": "db:5432", "password": "${secret:db/orders}"},
        requests=history,
        active_request_id=op_request,
        active_operation="update",
    )
    member = issuer.headers(unique("alice"), teams=(team,))
    r = await gateway.client.get(f"/api/v1/resources/{resource_id}", headers=member)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["status"] == "updating"
    assert shown["outputs"] == {"endpoint": "db:5432", "password": "${secret:db/orders}"}
    assert shown["active_request"] == {
        "request_id": op_request,
        "operation": "update",
        "link": f"/api/v1/requests/{op_request}",
    }
    assert [(h["operation"], h["status"]) for h in shown["requests"]] == [
        (None, "completed"),
        ("update", "in_progress"),
    ]
    assert shown["requests"][1]["link"] == f"/api/v1/requests/{op_request}"

    outsider = issuer.headers(unique("eve"), teams=(unique("search"),))
    for path in (f"/api/v1/resources/{resource_id}", f"/api/v1/resources/{resource_id}/operations"):
        r = await gateway.client.get(path, headers=outsider)
        assert r.status_code == 404, r.text
        assert r.json() == {"detail": f"no resource {resource_id}"}
    unknown = str(uuid.uuid4())
    r = await gateway.client.get(f"/api/v1/resources/{unknown}", headers=member)
    assert r.status_code == 404 and r.json() == {"detail": f"no resource {unknown}"}


async def test_operations_allowed_now_with_prefilled_forms(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION, ADMINS_ONLY)
    team = unique("payments")
    resource_id = await insert_resource(
        db_pool, item_id=item_id, owner_team=team, inputs={"name": "orders", "size": 4}
    )
    member = issuer.headers(unique("alice"), teams=(team,))
    r = await gateway.client.get(f"/api/v1/resources/{resource_id}/operations", headers=member)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["status"], answer["decommissionable"], answer["reason"]) == (
        "active",
        True,
        None,
    )
    assert answer["decommission_note"] is None
    assert [o["id"] for o in answer["operations"]] == ["update", "decommission"]
    update = answer["operations"][0]
    assert update["fields"] == ["size", "reason"] and update["changes"] == ["size"]
    assert update["run"] == f"/api/v1/resources/{resource_id}/operations/update"
    properties = update["form"]["schema"]["properties"]
    assert properties["size"]["default"] == 4  # the resource's current value
    assert "default" not in properties["reason"]
    assert answer["unavailable"] == [
        {
            "id": "failover",
            "title": "Fail over",
            "reason": f"{item_id} failover may only be run by roles dba",
        }
    ]

    # Decommissioned: none allowed, each says why.
    gone = await insert_resource(db_pool, item_id=item_id, owner_team=team, status="decommissioned")
    r = await gateway.client.get(f"/api/v1/resources/{gone}/operations", headers=member)
    answer = r.json()
    assert answer["operations"] == []
    assert answer["reason"].endswith("is decommissioned")
    assert {u["reason"] for u in answer["unavailable"]} == {answer["reason"]}

    # Busy with a request: none allowed, naming it.
    running = str(uuid.uuid4())
    busy = await insert_resource(
        db_pool,
        item_id=item_id,
        owner_team=team,
        status="updating",
        active_request_id=running,
        active_operation="update",
    )
    r = await gateway.client.get(f"/api/v1/resources/{busy}/operations", headers=member)
    assert r.json()["operations"] == []
    assert f"busy with request {running} (update)" in r.json()["reason"]

    # An item without decommission says so.
    plain = await item_with_operations(db_pool, UPDATE)
    kept = await insert_resource(db_pool, item_id=plain, owner_team=team)
    r = await gateway.client.get(f"/api/v1/resources/{kept}/operations", headers=member)
    answer = r.json()
    assert answer["decommissionable"] is False
    assert answer["decommission_note"] == (
        f"{plain} declares no decommission operation: PAO cannot decommission its"
        " resources; ask its owner (platform) to remove one"
    )
    assert [o["id"] for o in answer["operations"]] == ["update"]

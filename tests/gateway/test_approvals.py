"""The approver inbox (``GET /api/v1/approvals``) and the staged-approval refusals:
403 for someone who is not an approver of the current stage, 409 for a second decision."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from tests.gateway.conftest import (
    Issuer,
    RunningGateway,
    insert_view,
    item_document,
    publish_version,
)
from tests.gateway.test_cli import pao

pytestmark = pytest.mark.integration


async def test_inbox_and_refusals(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    tag = uuid.uuid4().hex[:6]
    ana, ben, kim, owner = (f"{n}-{tag}" for n in ("ana", "ben", "kim", "own"))
    web, sec = f"web-{tag}", f"sec-{tag}"
    rid = f"r-{tag}"
    stage_one = {
        "name": "data owners",
        "rule": "all",
        "approver_users": [ana, ben],
        "approver_teams": [],
        "status": "awaiting",
        "decisions": [{"by": ana, "decision": "approve", "comment": "ok", "at": None}],
    }
    await insert_view(
        db_pool,
        rid,
        requester=owner,
        teams=(web,),
        status="awaiting_approval",
        approval={
            "required": True,
            "approver_users": [ana, ben],
            "approver_teams": [],
            "stage": 0,
            "stage_count": 2,
            "stages": [stage_one],
        },
    )
    await insert_view(db_pool, f"done-{tag}", requester=owner, teams=(web,), status="completed")

    async def inbox(user: str, *teams: str) -> list[str]:
        r = await gateway.client.get("/api/v1/approvals", headers=issuer.headers(user, teams=teams))
        assert r.status_code == 200
        return [i["request"]["id"] for i in r.json()["items"]]

    assert await inbox(ben) == [rid]
    assert await inbox(ana) == [], "ana has decided stage one"
    assert await inbox(kim, sec) == [], "stage two has not begun"
    r = await gateway.client.get("/api/v1/approvals", headers=issuer.headers(ben))
    item = r.json()["items"][0]
    assert (item["stage_number"], item["stage_count"], item["stage"]["rule"]) == (1, 2, "all")
    assert item["stage"]["decisions"][0]["by"] == ana

    # 409: a second decision by the same approver
    r = await gateway.client.post(f"/api/v1/requests/{rid}/reject", headers=issuer.headers(ana))
    assert r.status_code == 409 and "already decided" in r.json()["detail"]
    # 403: sees the request (the requester's team) but is no approver of the current stage
    mate = issuer.headers(kim, teams=(web,))
    r = await gateway.client.post(f"/api/v1/requests/{rid}/approve", headers=mate)
    assert r.status_code == 403 and "not an approver of the current stage" in r.json()["detail"]

    # the CLI: pao approval list | reject (409 again) | approve
    def env(user: str) -> dict[str, str]:
        return {"PAO_GATEWAY_URL": gateway.url, "PAO_TOKEN": issuer.token(user)}

    code, out, _ = await pao("approval", "list", env=env(ben))
    assert code == 0 and out.startswith(f"{rid}  debug-echo  by {owner}  stage 1/2 data owners")
    code, _, err = await pao("approval", "reject", rid, env=env(ana))
    assert code == 1 and "HTTP 409" in err
    code, out, _ = await pao("approval", "approve", rid, "-m", "fine", env=env(ben))
    assert code == 0 and out.strip() == f"approve sent for {rid}"
    # GET /requests/{id} shows the stages and who decided what
    r = await gateway.client.get(f"/api/v1/requests/{rid}", headers=issuer.headers(owner))
    approval = r.json()["approval"]
    assert approval["stage_count"] == 2
    assert approval["stages"][0]["decisions"][0] == {
        "by": ana,
        "decision": "approve",
        "comment": "ok",
        "at": None,
    }


async def test_a_request_shows_what_was_sent_to_whom(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    tag = uuid.uuid4().hex[:6]
    rid, owner = f"r-{tag}", f"own-{tag}"
    await insert_view(db_pool, rid, requester=owner, status="completed")
    for channel, target, status, error in (
        ("email", "alice@example.com", "sent", None),
        ("slack", "sec-chat", "failed", "webhook answered HTTP 500"),
    ):
        await db_pool.execute(
            "INSERT INTO notification_log (notification_id, request_id, event_version, trigger,"
            " channel, target, recipients, subject, body, webhook_url, status, attempts,"
            " last_error) VALUES ($1, $2, 5, 'completed', $3, $4, $5, 'done', 'b',"
            " 'http://secret.example/hook', $6, 2, $7)",
            f"{rid}/{channel}",
            rid,
            channel,
            target,
            json.dumps([target] if channel == "email" else []),
            status,
            error,
        )
    r = await gateway.client.get(
        f"/api/v1/requests/{rid}/notifications", headers=issuer.headers(owner)
    )
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["channel"], i["recipients"], i["status"], i["last_error"]) for i in items] == [
        ("email", ["alice@example.com"], "sent", None),
        ("slack", [], "failed", "webhook answered HTTP 500"),
    ]
    assert "secret.example" not in r.text, "webhook URLs are credentials"
    r = await gateway.client.get(
        f"/api/v1/requests/{rid}/notifications", headers=issuer.headers("stranger")
    )
    assert r.status_code == 404


async def test_a_stage_nobody_can_approve_is_refused_at_submit_with_422(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    """The rule of ``pao_common.approvals`` (the orchestrator refuses the same): a stage
    naming the requester's manager, for a token without a manager claim."""
    item_id = f"mgr-{uuid.uuid4().hex[:6]}"
    stages = [
        {"name": "manager", "approvers": {"requester_manager": True}},
        {"name": "security", "approvers": {"teams": ["security"]}},
    ]
    await publish_version(db_pool, item_document(item_id, approval=stages))
    body = {"item_id": item_id, "inputs": {"name": "orders"}}

    r = await gateway.client.post("/api/v1/requests", json=body, headers=issuer.headers("leo"))
    assert r.status_code == 422, r.text
    why = (
        "approval stage 1 (manager): nobody can approve it: it names the requester's manager,"
        " and leo has no manager on record (the token's manager claim)"
    )
    assert r.json()["detail"] == f"{item_id} 1.0.0 cannot be approved for leo: {why}"
    assert r.json()["errors"] == [{"field": "approval", "message": why, "in": "item"}]

    with_manager = issuer.headers("leo", manager="mia")
    r = await gateway.client.post("/api/v1/requests", json=body, headers=with_manager)
    assert r.status_code == 202, r.text

    # an approval that does not apply to these inputs asks nothing of anybody
    conditional = {
        "required": True,
        "when": "inputs.size > 5",
        "approvers": {"requester_manager": True},
    }
    other = f"{item_id}-when"
    await publish_version(db_pool, item_document(other, approval=conditional))
    small = {"item_id": other, "inputs": {"name": "orders", "size": 2}}
    r = await gateway.client.post("/api/v1/requests", json=small, headers=issuer.headers("leo"))
    assert r.status_code == 202, r.text
    large = {"item_id": other, "inputs": {"name": "orders", "size": 7}}
    r = await gateway.client.post("/api/v1/requests", json=large, headers=issuer.headers("leo"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "approval"

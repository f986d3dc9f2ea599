"""``pao resource list|show|run``, run as real processes against the gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from tests.gateway.conftest import Issuer, RunningGateway, insert_resource
from tests.gateway.test_cli import pao
from tests.gateway.test_live import publish_request_event
from tests.gateway.test_resources import (
    ADMINS_ONLY,
    DECOMMISSION,
    UPDATE,
    item_with_operations,
    unique,
)

pytestmark = pytest.mark.integration


async def test_resource_list_and_show(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION, ADMINS_ONLY)
    team = unique("payments")
    alice = unique("alice")
    env = {"PAO_GATEWAY_URL": gateway.url, "PAO_TOKEN": issuer.token(alice, teams=(team,))}
    kept = await insert_resource(
        db_pool,
        item_id=item_id,
        owner_team=team,
        requester=alice,
        name="orders-db",
        inputs={"name": "orders", "size": 4},
        outputs={"endpoint": "db:5432", "password": "${secret:db/orders}"},
    )
    gone = await insert_resource(
        db_pool, item_id=item_id, owner_team=team, status="decommissioned", name="old-db"
    )
    theirs = await insert_resource(db_pool, item_id=item_id, owner_team=unique("search"))

    code, out, err = await pao("resource", "list", "--team", team, env=env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ITEM", "STATUS", "TEAM"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {kept, gone}
    assert rows[kept] == [kept, "orders-db", item_id, "1.0.0", "active", team]
    assert rows[gone][4] == "decommissioned"

    code, out, _ = await pao("resource", "list", "--item", item_id, "--status", "active", env=env)
    assert [line.split()[0] for line in out.splitlines()[1:]] == [kept]  # not theirs
    code, out, _ = await pao("resource", "list", "--team", team, "--limit", "1", "--json", env=env)
    assert code == 0 and len(json.loads(out)) == 1
    code, out, _ = await pao("resource", "list", "--owner", unique("nobody"), env=env)
    assert code == 0 and out.strip() == "no resources"

    code, out, err = await pao("resource", "show", kept, env=env)
    assert code == 0, err
    assert f"resource   {kept}" in out
    assert "status     active" in out
    assert f"owner      {team} (requested by {alice})" in out
    assert 'outputs    {"endpoint": "db:5432", "password": "${secret:db/orders}"}' in out
    assert "  update               Resize (size, reason)" in out
    assert "  decommission         Decommission (no inputs)" in out
    assert f"  failover             not now: {item_id} failover may only be run by roles dba" in out

    code, out, _ = await pao("resource", "show", gone, env=env)
    assert "not now: " in out and "is decommissioned" in out
    code, _, err = await pao("resource", "show", theirs, env=env)
    assert code == 1 and f"HTTP 404: no resource {theirs}" in err
    code, _, err = await pao("resource", "list", env={**env, "PAO_TOKEN": ""})
    assert code == 1 and "no token" in err


async def test_resource_run_errors_and_watch(
    gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    item_id = await item_with_operations(db_pool, UPDATE, DECOMMISSION)
    team = unique("payments")
    env = {
        "PAO_GATEWAY_URL": gateway.url,
        "PAO_TOKEN": issuer.token(unique("alice"), teams=(team,)),
    }
    resource_id = await insert_resource(
        db_pool, item_id=item_id, owner_team=team, inputs={"name": "orders", "size": 4}
    )

    # Fields update does not ask for, and a value out of range: 422 with each field.
    code, _, err = await pao(
        "resource", "run", "update", resource_id, "-i", "size=99", "-i", "colour=red", env=env
    )
    assert code == 1 and "HTTP 422" in err
    assert "  colour: unknown field" in err and "  size:" in err
    code, _, err = await pao("resource", "run", "explode", resource_id, env=env)
    assert code == 1 and "HTTP 404" in err and "no operation 'explode'" in err

    # --inputs file, --input overriding it; the request id is printed.
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("reason: bigger disks\nsize: 5\n")
    code, out, err = await pao(
        "resource", "run", "update", resource_id, "--inputs", str(inputs), "-i", "size=6", env=env
    )
    assert code == 0, err
    request_id = out.strip()
    row = await db_pool.fetchrow(
        "SELECT inputs::text, resource_id, operation FROM gateway_submissions"
        " WHERE request_id = $1",
        request_id,
    )
    assert row is not None
    assert json.loads(row["inputs"]) == {"size": 6, "reason": "bigger disks"}
    assert (row["resource_id"], row["operation"]) == (resource_id, "update")

    # While it runs, a second operation is refused naming it.
    code, _, err = await pao("resource", "run", "decommission", resource_id, env=env)
    assert code == 1 and "HTTP 409" in err and request_id in err

    # --watch follows the operation's request like pao request watch (exit 0: completed).
    other = await insert_resource(db_pool, item_id=item_id, owner_team=team)
    watcher = asyncio.create_task(
        pao("resource", "run", "decommission", other, "--watch", "--json", env=env)
    )
    started: str | None = None
    while not watcher.done():  # until the run printed its id and the stream has the event
        await asyncio.wait([watcher], timeout=0.5)
        if started is None:
            started = await db_pool.fetchval(
                "SELECT request_id FROM gateway_submissions WHERE resource_id = $1", other
            )
        if started is not None and not watcher.done():
            await publish_request_event(
                gateway.settings.kafka_bootstrap,
                gateway.topics.request_events,
                started,
                1,
                "failed",
                "RequestFailed",
            )
    code, out, err = watcher.result()
    assert code == 1, err  # the operation failed: exit 1
    answer, _ = json.JSONDecoder().raw_decode(out)
    assert answer["id"] == started
    assert out.splitlines()[-1].split() == ["failed", "(RequestFailed)"]

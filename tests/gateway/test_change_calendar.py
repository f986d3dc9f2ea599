"""The gateway and the change calendar: a change a window denies is answered 422 naming the
window and its end (before any command leaves); an emergency override needs the calendar's
role (403 otherwise) and travels in the command with its reason; a held request reads as
``scheduled`` with the window's end."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from pao_common.cloudevents import decode_headers, from_kafka
from pao_common.messages import SubmitRequest, parse_message

from tests.gateway.conftest import (
    Issuer,
    JsonServer,
    RunningGateway,
    gateway_settings,
    insert_view,
    item_document,
    publish_version,
    run_gateway,
)
from tests.support.kafka import records_until_sentinels

pytestmark = pytest.mark.integration

END = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)


@pytest.fixture(scope="module")
def item_id() -> str:
    return f"freeze-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def frozen_gateway(
    kafka_bootstrap: str,
    database_url: str,
    redis_url: str,
    issuer: Issuer,
    catalog_service: JsonServer,
    tmp_path_factory: pytest.TempPathFactory,
    item_id: str,
) -> AsyncIterator[RunningGateway]:
    state = tmp_path_factory.mktemp("frozen-gateway")
    start = datetime.now(UTC) - timedelta(days=1)
    calendar = Path(state) / "change-calendar.yaml"
    calendar.write_text(
        textwrap.dedent(
            f"""\
            schemaVersion: "1.0"
            kind: ChangeCalendar
            version: gw-test
            timezone: UTC
            emergency: {{role: emergency-change}}
            windows:
              - name: network-cutover
                once: {{start: "{start:%Y-%m-%dT%H:%M}", end: "{END:%Y-%m-%dT%H:%M:%S}"}}
                classes: [major]
                items: [{item_id}]
                action: deny
            """
        )
    )
    settings = gateway_settings(
        kafka_bootstrap,
        database_url,
        redis_url,
        issuer,
        catalog_service.url,
        state,
        change_calendar=calendar,
    )
    async for running in run_gateway(settings):
        yield running


@pytest.fixture
async def published(db_pool: asyncpg.Pool, item_id: str) -> str:
    document = item_document(
        item_id,
        change_class={"rules": [{"when": "inputs.size > 5", "class": "major"}]},
    )
    known = await db_pool.fetchval(
        "SELECT 1 FROM catalog_item_versions WHERE item_id = $1", item_id
    )
    if not known:
        await publish_version(db_pool, document)
    return item_id


async def test_a_denied_change_is_422_naming_the_window_and_its_end(
    frozen_gateway: RunningGateway, issuer: Issuer, published: str
) -> None:
    body = {"item_id": published, "inputs": {"name": "core", "size": 8}}
    r = await frozen_gateway.client.post(
        "/api/v1/requests", json=body, headers=issuer.headers("nora", teams=("network",))
    )
    assert r.status_code == 422, r.text
    answer = r.json()
    until = END.isoformat()
    assert answer["detail"] == f"change window network-cutover denies major changes until {until}"
    assert answer["change_window"] == {
        "name": "network-cutover",
        "until": until,
        "action": "deny",
        "change_class": "major",
    }
    assert answer["errors"][0]["field"] == "item_id"

    # a standard change of the same item is not in the window's classes
    small = {"item_id": published, "inputs": {"name": "core", "size": 2}}
    r = await frozen_gateway.client.post(
        "/api/v1/requests", json=small, headers=issuer.headers("nora", teams=("network",))
    )
    assert r.status_code == 202, r.text


async def test_an_emergency_override_needs_the_role_and_carries_its_reason(
    frozen_gateway: RunningGateway, issuer: Issuer, published: str
) -> None:
    body = {
        "item_id": published,
        "inputs": {"name": "core", "size": 8},
        "emergency": {"reason": "INC-9000: core router down"},
    }
    r = await frozen_gateway.client.post(
        "/api/v1/requests", json=body, headers=issuer.headers("nora", teams=("network",))
    )
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == "an emergency override needs the role emergency-change"

    r = await frozen_gateway.client.post(
        "/api/v1/requests", json={**body, "emergency": {"reason": ""}}, headers=issuer.headers("x")
    )
    assert r.status_code == 422  # the reason is mandatory

    on_call = issuer.headers("omar", teams=("network",), roles=("emergency-change",))
    r = await frozen_gateway.client.post("/api/v1/requests", json=body, headers=on_call)
    assert r.status_code == 202, r.text
    request_id = r.json()["id"]
    records = await records_until_sentinels(
        frozen_gateway.settings.kafka_bootstrap,
        frozen_gateway.topics.request_commands,
        [request_id],
    )
    [record] = [r for r in records if r.key == request_id.encode()]
    command = parse_message(from_kafka(decode_headers(record.headers), record.value))
    assert isinstance(command, SubmitRequest) and command.emergency is not None
    assert command.emergency.reason == "INC-9000: core router down"


async def test_a_held_request_reads_as_scheduled_with_the_windows_end(
    frozen_gateway: RunningGateway, issuer: Issuer, db_pool: asyncpg.Pool
) -> None:
    request_id = f"held-{uuid.uuid4().hex[:8]}"
    await insert_view(db_pool, request_id, requester="hana", status="scheduled")
    change = {
        "class": "major",
        "window": "restricted-period",
        "action": "hold",
        "until": "2027-01-31T23:00:00+00:00",
        "calendar_version": "2026.2",
    }
    await db_pool.execute(
        "UPDATE request_view SET change = $2 WHERE request_id = $1", request_id, json.dumps(change)
    )
    r = await frozen_gateway.client.get(
        f"/api/v1/requests/{request_id}", headers=issuer.headers("hana")
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["status"] == "scheduled" and view["change_class"] == "major"
    assert view["scheduled_until"] == "2027-01-31T23:00:00Z"
    assert view["change"]["window"] == "restricted-period"
    assert view["change"]["class"] == "major"


async def test_pao_request_submit_emergency_and_show_of_a_held_request(
    frozen_gateway: RunningGateway, issuer: Issuer, published: str, db_pool: asyncpg.Pool
) -> None:
    from tests.gateway.test_cli import pao

    env = {"PAO_GATEWAY_URL": frozen_gateway.url}
    args = ["request", "submit", published, "--input", "name=core", "--input", "size=8"]
    code, _, err = await pao(*args, env={**env, "PAO_TOKEN": issuer.token("nora")})
    assert code == 1 and "HTTP 422" in err and "network-cutover" in err, err
    on_call = issuer.token("omar", roles=("emergency-change",))
    code, out, err = await pao(
        *args, "--emergency", "INC-9001: core down", env={**env, "PAO_TOKEN": on_call}
    )
    assert code == 0, err
    assert out.strip()

    request_id = f"held-{uuid.uuid4().hex[:8]}"
    await insert_view(db_pool, request_id, requester="hana", status="scheduled")
    change = {"class": "major", "window": "restricted-period", "until": "2027-01-31T23:00:00Z"}
    await db_pool.execute(
        "UPDATE request_view SET change = $2 WHERE request_id = $1", request_id, json.dumps(change)
    )
    code, out, err = await pao(
        "request", "show", request_id, env={**env, "PAO_TOKEN": issuer.token("hana")}
    )
    assert code == 0, err
    assert "change     major; held by restricted-period until 2027-01-31T23:00:00Z" in out, out

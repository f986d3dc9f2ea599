"""Two gateway replicas, one resource: operations posted on both at once.

The catalog service, the orchestrator and the debug executor run as real processes
(``tests.support.platform``); two gateway apps run in this process on one PostgreSQL and
the session's broker, each with consumer groups of its own. Every round posts the same
operation on the resource through both replicas at the same moment: exactly one answers
202, the other 409 naming the winner; the winner runs to completion. Afterwards the
resource's history on ``pao.resources.events`` has each round's operation once (started,
updated), no version lost or doubled, and the commands topic carries one operation
request per round.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pao_common.messages import resource_id_for
from pao_common.settings import Settings

from tests.gateway.conftest import RunningGateway, run_gateway
from tests.support.kafka import records_until_sentinels
from tests.support.platform import TERMINAL, Platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUNDS = 3
ITEM = """\
schemaVersion: "2.0"
metadata:
  id: race-db
  name: Race database
  version: 1.0.0
  owner: platform
  category: test
  description: A resource with day-2 operations that the debug executor fulfils.
presentation:
  fields:
    - id: name
      type: string
      label: Name
      required: true
    - id: size
      type: integer
      label: Size
      default: 1
fulfillment:
  mode: automated
  automated:
    steps:
      - id: make
        action: debug.log
        with:
          message: "make {{ inputs.name }} of {{ inputs.size }}"
resource:
  name: "{{ inputs.name }}"
operations:
  - id: update
    title: Resize
    presentation:
      fields:
        - id: size
          type: integer
          label: Size
          required: true
    fulfillment:
      mode: automated
      automated:
        steps:
          - id: resize
            action: debug.log
            with:
              message: "{{ resource.name }} from {{ resource.inputs.size }} to {{ inputs.size }}"
  - id: decommission
    title: Decommission
    fulfillment:
      mode: automated
      automated:
        steps:
          - id: drop
            action: debug.log
            with:
              message: "drop {{ resource.name }}"
examples:
  - name: ledger
    user:
      id: rita
      email: rita@example.com
      teams: [orders]
    inputs:
      name: ledger
      size: 2
"""


async def _two_gateways(settings: Settings) -> AsyncIterator[list[RunningGateway]]:
    async with AsyncExitStack() as stack:
        replicas = []
        for n in range(2):
            own = settings.model_copy(
                update={"gateway_instance_id": f"race-{n}", "log_level": "WARNING"}
            )
            runner = run_gateway(own)
            replicas.append(await runner.__anext__())
            stack.push_async_callback(_drain, runner)
        yield replicas


async def _drain(runner: AsyncIterator[RunningGateway]) -> None:
    async for _ in runner:
        pass


async def _wait_for(pool: asyncpg.Pool, query: str, *args: Any, timeout_s: float = 90) -> Any:
    """The first non-null value of ``query`` (a deadline for a hung test, not a timing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await pool.fetchval(query, *args)
        if value is not None:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {query} {args}")


async def test_two_replicas_racing_one_resource_one_runs_the_other_is_409(
    settings: Settings, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    platform = Platform(settings=settings, log_dir=tmp_path)
    (platform.settings.catalog_dir / "race-db.yaml").write_text(ITEM)
    await asyncio.to_thread(platform.start)
    try:
        await _race(platform, db_pool)
    except BaseException:
        print(platform.logs())
        raise
    finally:
        await asyncio.to_thread(platform.stop)


async def _race(platform: Platform, pool: asyncpg.Pool) -> None:
    token = platform.token("rita", teams=("orders",))
    auth = {"Authorization": f"Bearer {token}"}
    async for replicas in _two_gateways(platform.settings):
        first = replicas[0]
        r = await first.client.post(
            "/api/v1/requests",
            json={"item_id": "race-db", "inputs": {"name": "ledger", "size": 2}},
            headers=auth,
        )
        assert r.status_code == 202, r.text
        provisioning = r.json()["id"]
        resource_id = resource_id_for(provisioning)
        await _wait_for(
            pool,
            "SELECT 1 FROM resource_view WHERE resource_id = $1 AND status = 'active'",
            resource_id,
        )
        winners: list[str] = []
        for round_no in range(ROUNDS):
            size = 3 + round_no
            answers = await asyncio.gather(
                *(
                    gw.client.post(
                        f"/api/v1/resources/{resource_id}/operations/update",
                        json={"inputs": {"size": size}},
                        headers={**auth, "Idempotency-Key": f"round-{round_no}-{n}"},
                    )
                    for n, gw in enumerate(replicas)
                )
            )
            codes = sorted(a.status_code for a in answers)
            assert codes == [202, 409], [a.text for a in answers]
            [won] = [a.json()["id"] for a in answers if a.status_code == 202]
            [lost] = [a.json() for a in answers if a.status_code == 409]
            assert lost["running_request"] == won, lost
            winners.append(won)
            status = await _wait_for(
                pool,
                "SELECT status FROM request_view WHERE request_id = $1 AND status = ANY($2)",
                won,
                sorted(TERMINAL),
            )
            assert status == "completed"
            await _wait_for(
                pool,
                "SELECT 1 FROM resource_view WHERE resource_id = $1 AND status = 'active'"
                " AND active_request_id IS NULL AND (inputs->>'size')::int = $2",
                resource_id,
                size,
            )

        # The resource's history: provisioned once, each winner's operation once, in order.
        last = 2 + 2 * ROUNDS
        await _wait_for(
            pool,
            "SELECT 1 FROM resource_view WHERE resource_id = $1 AND last_version = $2",
            resource_id,
            last,
        )
        records = await records_until_sentinels(
            platform.bootstrap, platform.topics.resource_events, [resource_id], timeout_s=60
        )
        history = []
        for record in records:
            if record.key is None or record.key.decode() != resource_id:
                continue
            headers = {k: v.decode() for k, v in record.headers}
            body = json.loads(record.value)
            history.append((body["version"], headers["ce_type"], body["request_id"]))
        versions = [v for v, _, _ in history]
        assert sorted(set(versions)) == list(range(1, last + 1)), history  # none lost
        assert len(versions) == len(set(versions)), history  # none doubled
        by_version = {v: (t, rid) for v, t, rid in history}
        expected = {
            1: ("pao.resource.provisioning-started", provisioning),
            2: ("pao.resource.provisioned", provisioning),
        }
        for n, won in enumerate(winners):
            expected[3 + 2 * n] = ("pao.resource.operation-started", won)
            expected[4 + 2 * n] = ("pao.resource.updated", won)
        assert by_version == expected

        # One operation request per round left the gateways (the losers made none).
        commands = await records_until_sentinels(
            platform.bootstrap, platform.topics.request_commands, winners, timeout_s=60
        )
        operations = [
            json.loads(c.value)["request_id"]
            for c in commands
            if json.loads(c.value).get("resource_id") == resource_id
        ]
        assert sorted(operations) == sorted(winners)
        stored = await pool.fetchval(
            "SELECT count(*) FROM gateway_submissions WHERE resource_id = $1", resource_id
        )
        assert stored == ROUNDS
        view = await pool.fetchval(
            "SELECT requests FROM resource_view WHERE resource_id = $1", resource_id
        )
        requests = json.loads(view) if isinstance(view, str) else view
        assert [(h["request_id"], h["status"]) for h in requests] == [
            (provisioning, "completed"),
            *((w, "completed") for w in winners),
        ]

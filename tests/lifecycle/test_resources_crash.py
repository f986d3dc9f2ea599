"""Must-show: SIGKILL the orchestrator during an operation on 20 resources, restart it.

Twenty ``lifecycle-resource`` resources are provisioned, then an ``update`` is posted on
every one at once through the gateway (its middle step waits 0 to 7.6 s, so they end one
after another; every fifth is asked to fail after the wait and is rolled back). The
orchestrator is SIGKILLed once a few have ended and the rest are still running, and
restarted. Afterwards every operation request has ended (completed, or rolled back when
asked to fail) and its resource is ``active``, with the new size when the update
completed and the old one (and the failure) when it did not: none is left ``updating``.
Each resource's event stream is the four events of its two requests, versions 1-4, none
doubled, and ``pao.resources.events`` carries every version (a version published twice is
the same message again); ``resource_view`` and ``GET /api/v1/resources/{id}`` say what the
fold of the stream says; a second update on every resource is accepted and completes.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import asyncpg
import httpx
import pytest
from pao_common.messages import resource_id_for
from pao_orchestrator.adapters.postgres import PostgresEventStore
from pao_orchestrator.domain.resource_state import reduce_resource
from pao_orchestrator.projection import resource_view_row

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.kafka import records_until_sentinels
from tests.support.platform import (
    TERMINAL,
    Platform,
    assert_recorded_once,
    assert_side_effects_once,
    statuses,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITEM = "lifecycle-resource"
COUNT = 20
ENDED_BEFORE_KILL = 4  # the kill waits for this many updates to end


def update_inputs(n: int) -> dict[str, Any]:
    return {"size": 10 + n, "wait_s": round(0.4 * n, 1), "fail_update": n % 5 == 3}


async def test_sigkill_orchestrator_during_operations_on_20_resources(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, test_id: str
) -> None:
    platform = await start_platform(
        make_platform(with_gateway=True, gateway_env={"PAO_GATEWAY_SUBMIT_BURST": "100"})
    )
    assert platform.gateway is not None
    provisions = [f"res-{test_id}-{n:02d}" for n in range(COUNT)]
    await platform.submit(
        (rid, ITEM, {"name": f"db-{test_id}-{n:02d}", "size": 1})
        for n, rid in enumerate(provisions)
    )
    made = await wait_until(db_pool, provisions, platform=platform)
    assert set(made.values()) == {"completed"}, made
    resources = [resource_id_for(rid) for rid in provisions]
    fails = {n for n in range(COUNT) if update_inputs(n)["fail_update"]}

    headers = {"Authorization": f"Bearer {platform.token('alice')}"}
    async with httpx.AsyncClient(
        base_url=platform.gateway.url, headers=headers, timeout=30
    ) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/api/v1/resources/{res}/operations/update",
                    json={"inputs": update_inputs(n)},
                    headers={"Idempotency-Key": f"resize-{test_id}-{n}"},
                )
                for n, res in enumerate(resources)
            )
        )
        assert [a.status_code for a in answers] == [202] * COUNT, [a.text for a in answers]
        updates = [a.json()["id"] for a in answers]

        await wait_until(db_pool, updates, count=ENDED_BEFORE_KILL, platform=platform)
        [orchestrator] = platform.orchestrators
        orchestrator.kill()
        at_kill = await statuses(db_pool, updates)
        updating_at_kill = {
            r["resource_id"]
            for r in await db_pool.fetch(
                "SELECT resource_id FROM resource_view WHERE resource_id = ANY($1::text[])"
                " AND status = 'updating'",
                resources,
            )
        }
        running = [n for n, u in enumerate(updates) if at_kill.get(u) not in TERMINAL]
        # The kill came mid-flight: some updates had ended, the others were still running
        # and their resources updating in the read model.
        assert COUNT - len(running) >= ENDED_BEFORE_KILL, at_kill
        assert len(running) >= COUNT // 4, f"only {len(running)} still running at the kill"
        assert updating_at_kill == {resources[n] for n in running}, at_kill
        await asyncio.sleep(1.0)  # step results keep arriving on the topic while it is down
        await asyncio.to_thread(platform.restart, orchestrator)

        ended = await wait_until(db_pool, updates, platform=platform)
        assert ended == {
            u: "rolled_back" if n in fails else "completed" for n, u in enumerate(updates)
        }
        await assert_recorded_once(db_pool, provisions + updates)
        attempts = await assert_side_effects_once(db_pool, provisions + updates)
        # 20 x make + 16 x (prepare, wait, finish) + 4 x (prepare, wait, break, undo x 2)
        assert attempts == COUNT + (COUNT - len(fails)) * 3 + len(fails) * 5

        await assert_resources_settled(db_pool, resources, provisions, updates, fails)
        await assert_read_model_is_the_fold(db_pool, client, resources)
        await assert_every_version_published(platform, resources, last_version=4)

        # Nothing holds a resource any more: a second update on each runs to completion.
        again = await asyncio.gather(
            *(
                client.post(
                    f"/api/v1/resources/{res}/operations/update",
                    json={"inputs": {"size": 100 + n}},
                    headers={"Idempotency-Key": f"again-{test_id}-{n}"},
                )
                for n, res in enumerate(resources)
            )
        )
        assert [a.status_code for a in again] == [202] * COUNT, [a.text for a in again]
        seconds = [a.json()["id"] for a in again]
        assert set((await wait_until(db_pool, seconds, platform=platform)).values()) == {
            "completed"
        }
        sizes = await db_pool.fetch(
            "SELECT resource_id, status, (inputs->>'size')::int AS size, last_version"
            " FROM resource_view WHERE resource_id = ANY($1::text[])",
            resources,
        )
        assert {r["resource_id"]: (r["status"], r["size"], r["last_version"]) for r in sizes} == {
            res: ("active", 100 + n, 6) for n, res in enumerate(resources)
        }
        await assert_read_model_is_the_fold(db_pool, client, resources)


async def assert_resources_settled(
    pool: asyncpg.Pool,
    resources: list[str],
    provisions: list[str],
    updates: list[str],
    fails: set[int],
) -> None:
    """Each resource: active, idle, its size the update's (or the old one and the failure),
    and its stream exactly the four events of its two requests, versions 1-4."""
    rows = await pool.fetch(
        "SELECT stream_id, version, event_type, message_id, data->>'request_id' AS request_id"
        " FROM resource_events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version",
        resources,
    )
    streams: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for r in rows:
        assert r["message_id"] is not None, dict(r)
        streams[r["stream_id"]].append((r["version"], r["event_type"], r["request_id"]))
    views = await PostgresEventStore(pool).resource_views()
    for n, res in enumerate(resources):
        provision, update = provisions[n], updates[n]
        settled = "ResourceOperationFailed" if n in fails else "ResourceUpdated"
        assert streams[res] == [
            (1, "ResourceProvisioningStarted", provision),
            (2, "ResourceProvisioned", provision),
            (3, "ResourceOperationStarted", update),
            (4, settled, update),
        ], (n, streams[res])
        view = views[res]
        inputs, outputs = view["inputs"], view["outputs"]
        history = [(h["request_id"], h["operation"], h["status"]) for h in view["requests"]]
        assert (view["status"], view["active_request_id"], view["last_version"]) == (
            "active",
            None,
            4,
        ), view
        if n in fails:
            assert inputs["size"] == 1 and "resized" not in outputs, view
            assert "resize broken on purpose" in (view["error"] or ""), view
            assert history == [(provision, None, "completed"), (update, "update", "rolled_back")]
        else:
            assert inputs["size"] == 10 + n and view["error"] is None, view
            assert outputs["resized"] == f"{view['name']}.db.test now {10 + n}", outputs
            assert history == [(provision, None, "completed"), (update, "update", "completed")]
        # Operation-only fields are the operation's, not the resource's.
        assert "wait_s" not in inputs and "fail_update" not in inputs, inputs


async def assert_read_model_is_the_fold(
    pool: asyncpg.Pool, client: httpx.AsyncClient, resources: list[str]
) -> None:
    """``resource_view`` is the fold of each resource's stream, and the gateway says the same."""
    store = PostgresEventStore(pool)
    views = await store.resource_views()
    for res in resources:
        folded = resource_view_row(reduce_resource(await store.load_resource(res)))
        assert views[res] == folded, (res, views[res], folded)
        r = await client.get(f"/api/v1/resources/{res}")
        assert r.status_code == 200, r.text
        shown = r.json()
        assert (
            shown["status"],
            shown["version"],
            shown["inputs"],
            shown["outputs"],
            shown["active_request"],
            shown["error"],
        ) == (
            folded["status"],
            folded["last_version"],
            folded["inputs"],
            folded["outputs"],
            None,
            folded["error"],
        ), shown
        assert [(h["request_id"], h["status"]) for h in shown["requests"]] == [
            (h["request_id"], h["status"]) for h in folded["requests"]
        ]


async def assert_every_version_published(
    platform: Platform, resources: list[str], *, last_version: int
) -> None:
    """``pao.resources.events`` has versions 1..last of each resource; a version there
    twice (the outbox relays again what it had published when it was killed) is the same
    message, never another event."""
    records = await records_until_sentinels(
        platform.bootstrap, platform.topics.resource_events, resources, timeout_s=60
    )
    published: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for record in records:
        body = json.loads(record.value)
        published[record.key.decode()][body["version"]].add(json.dumps(body, sort_keys=True))
    for res in resources:
        versions = published[res]
        assert sorted(versions) == list(range(1, last_version + 1)), (res, sorted(versions))
        doubled = {v: bodies for v, bodies in versions.items() if len(bodies) > 1}
        assert not doubled, (res, doubled)

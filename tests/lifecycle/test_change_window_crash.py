"""Must-show: SIGKILL the orchestrator while 20 major requests are held by a change window.

The window ends a couple of minutes after the test starts. The requests wait in
``scheduled`` with the window's end on durable ``change_window`` timers; the orchestrator
is killed and started again; when the window ends every request starts by itself and
completes, none twice, none before the window's end. A standard request submitted at the
same time runs at once.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.platform import (
    TERMINAL,
    assert_recorded_once,
    assert_side_effects_once,
    statuses,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITEM = """\
schemaVersion: "2.0"
metadata:
  id: freeze-deploy
  name: A deployment the change calendar holds in production
  version: 1.0.0
  owner: platform
  category: debug
presentation:
  fields:
    - {id: message, type: string, label: Message, required: true}
    - {id: environment, type: select, label: Environment, options: [staging, production]}
change_class:
  default: standard
  rules:
    - {when: "inputs.environment == 'production'", class: major}
fulfillment:
  mode: automated
  automated:
    steps:
      - {id: deploy, action: debug.log, with: {message: "deploy {{ inputs.message }}"}}
examples:
  - {name: prod, user: {id: alice}, inputs: {message: hi, environment: production}}
"""

# Long enough for the platform to start and the requests to be held before it ends.
WINDOW_S = 120


async def test_held_requests_survive_a_sigkill_and_start_once_when_the_window_ends(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, test_id: str, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    end = (datetime.now(UTC) + timedelta(seconds=WINDOW_S)).replace(microsecond=0)
    calendar = tmp_path / "change-calendar.yaml"
    calendar.write_text(
        textwrap.dedent(
            f"""\
            schemaVersion: "1.0"
            kind: ChangeCalendar
            version: test
            timezone: UTC
            windows:
              - name: test-freeze
                once: {{start: "{start:%Y-%m-%dT%H:%M:%S}", end: "{end:%Y-%m-%dT%H:%M:%S}"}}
                classes: [major]
                action: hold
            """
        )
    )
    platform = make_platform(orchestrator_env={"PAO_CHANGE_CALENDAR": str(calendar)})
    (platform.log_dir / "catalog" / "freeze-deploy.yaml").write_text(ITEM)
    await start_platform(platform)

    held = [f"held-{test_id}-{n:02d}" for n in range(20)]
    free = f"free-{test_id}"
    await platform.submit(
        [(rid, "freeze-deploy", {"message": rid, "environment": "production"}) for rid in held]
        + [(free, "freeze-deploy", {"message": free, "environment": "staging"})]
    )
    await wait_until(db_pool, held, {"scheduled"}, platform=platform)
    assert (await wait_until(db_pool, [free], platform=platform))[free] == "completed"
    rows = await db_pool.fetch(
        "SELECT request_id, change::text AS change FROM request_view"
        " WHERE request_id = ANY($1::text[])",
        held,
    )
    for row in rows:
        change = json.loads(row["change"])
        assert change["class"] == "major" and change["window"] == "test-freeze", change
        assert datetime.fromisoformat(change["until"]) == end, change
    timers = await db_pool.fetchval(
        "SELECT count(*) FROM timers WHERE kind = 'change_window' AND stream_id = ANY($1)", held
    )
    assert timers == 20

    [orchestrator] = platform.orchestrators
    orchestrator.kill()
    at_kill = await statuses(db_pool, held)
    assert set(at_kill.values()) == {"scheduled"}, at_kill
    assert datetime.now(UTC) < end, "the window ended before the kill: start took too long"
    await asyncio.to_thread(platform.restart, orchestrator)

    ended = await wait_until(db_pool, held, platform=platform, deadline_s=WINDOW_S + 180)
    assert set(ended.values()) == {"completed"}, ended
    await assert_recorded_once(db_pool, held)
    assert await assert_side_effects_once(db_pool, held) == 20
    events = await db_pool.fetch(
        "SELECT stream_id, event_type, (data->>'occurred_at')::timestamptz AS at"
        " FROM request_events WHERE stream_id = ANY($1::text[])"
        " AND event_type IN ('RequestReleased', 'FulfilmentStarted', 'StepDispatched')",
        held,
    )
    by_stream: dict[str, list[str]] = {}
    for e in events:
        by_stream.setdefault(e["stream_id"], []).append(e["event_type"])
        assert e["at"] >= end, f"{e['stream_id']} {e['event_type']} at {e['at']} < {end}"
    assert all(
        sorted(types) == ["FulfilmentStarted", "RequestReleased", "StepDispatched"]
        for types in by_stream.values()
    ), by_stream
    assert len(by_stream) == 20
    lags = sorted(
        (e["at"] - end).total_seconds() for e in events if e["event_type"] == "RequestReleased"
    )
    print(f"\n20 held requests released {lags[0]:.2f}-{lags[-1]:.2f}s after the window's end")
    assert not set(ended.values()) - TERMINAL

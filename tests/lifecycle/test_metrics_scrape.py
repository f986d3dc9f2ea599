"""Must-show: after a known mix of requests through real processes, ``/metrics`` holds
exactly those figures, and every metric the alert rules and the dashboard use is declared
by a running service."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pao_common.settings import Settings
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.test_alert_rules import PROMETHEUS_OWN, sample_names, used_metrics
from tests.support.platform import Platform, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class MeteredPlatform(Platform):
    """Gauges read from the database and readiness refreshed every second."""

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(PAO_METRICS_REFRESH_S="1", **extra)


def scrape(url: str) -> list[Metric]:
    response = httpx.get(url + "/metrics", timeout=10)
    response.raise_for_status()
    return list(text_string_to_metric_families(response.text))


def value(families: list[Metric], name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent, as Prometheus reads it)."""
    for family in families:
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def series(families: list[Metric], name: str) -> list[dict[str, str]]:
    return [s.labels for f in families for s in f.samples if s.name == name]


async def test_metrics_follow_a_known_mix_of_requests(
    settings: Settings, tmp_path: Path, db_pool: asyncpg.Pool, test_id: str
) -> None:
    platform = MeteredPlatform(settings=settings, log_dir=tmp_path, with_gateway=True)
    try:
        await asyncio.to_thread(platform.start)
        await run_the_mix(platform, db_pool, test_id)
    finally:
        await asyncio.to_thread(platform.stop)


async def run_the_mix(platform: Platform, db_pool: asyncpg.Pool, test_id: str) -> None:
    steps = "lifecycle-steps"
    mix: list[tuple[str, str, dict[str, Any], str]] = [
        (f"m-{test_id}-echo", "debug-echo", {"message": "hi"}, "completed"),
        (f"m-{test_id}-steps", steps, {"message": "a", "wait_s": 0}, "completed"),
        (f"m-{test_id}-back", steps, {"message": "b", "wait_s": 0, "fail": True}, "rolled_back"),
        (f"m-{test_id}-bad", "debug-echo", {"message": ""}, "failed"),
        (f"m-{test_id}-nope-1", "no-such-item-1", {}, "failed"),
        (f"m-{test_id}-nope-2", "no-such-item-2", {}, "failed"),
    ]
    await platform.submit([(rid, item, inputs) for rid, item, inputs, _ in mix])
    ids = [rid for rid, *_ in mix]
    found = await wait_until(db_pool, ids, platform=platform)
    assert found == {rid: status for rid, *_, status in mix}

    assert platform.orchestrators[0].url and platform.catalog and platform.executor
    assert platform.gateway is not None
    urls = {
        "orchestrator": platform.orchestrators[0].url,
        "gateway": platform.gateway.url,
        "catalog": platform.catalog.url,
        "executor": platform.executor.url,
    }
    # The executor answers before the orchestrator commits; the gauges refresh every second.
    await asyncio.sleep(2.5)
    scraped = {name: await asyncio.to_thread(scrape, url) for name, url in urls.items()}
    o = scraped["orchestrator"]

    echo = {"item": "debug-echo", "mode": "automated"}
    life = {"item": steps, "mode": "automated"}
    other = {"item": "other", "mode": "none"}
    assert value(o, "pao_requests_submitted_total", **echo) == 2
    assert value(o, "pao_requests_submitted_total", **life) == 2
    assert value(o, "pao_requests_submitted_total", **other) == 2
    assert value(o, "pao_requests_ended_total", **echo, outcome="completed") == 1
    assert value(o, "pao_requests_ended_total", **echo, outcome="invalid") == 1
    assert value(o, "pao_requests_ended_total", **life, outcome="completed") == 1
    assert value(o, "pao_requests_ended_total", **life, outcome="rolled_back") == 1
    assert value(o, "pao_requests_ended_total", **other, outcome="invalid") == 2
    assert (
        sum(s.get("item") == "no-such-item-1" for s in series(o, "pao_requests_submitted_total"))
        == 0
    )
    assert value(o, "pao_request_lead_time_seconds_count", **echo) == 1
    assert value(o, "pao_request_lead_time_seconds_count", **life) == 2
    assert value(o, "pao_request_lead_time_seconds_sum", **life) > 0
    assert value(o, "pao_steps_total", action_type="debug.log", outcome="succeeded") == 4
    assert value(o, "pao_steps_total", action_type="debug.wait", outcome="succeeded") == 2
    assert value(o, "pao_steps_total", action_type="debug.fail", outcome="failed") == 1
    assert value(o, "pao_steps_total", action_type="debug.log", outcome="compensated") == 1
    assert value(o, "pao_steps_total", action_type="debug.wait", outcome="compensated") == 1
    assert (
        value(o, "pao_step_duration_seconds_count", action_type="debug.log", outcome="succeeded")
        == 4
    )
    assert value(o, "pao_rollbacks_total", item=steps) == 1
    assert value(o, "pao_fallbacks_to_manual_total", item=steps) == 0
    assert value(o, "pao_approvals_waiting") == 0
    assert value(o, "pao_requests_stuck") == 0
    assert series(o, "pao_outbox_backlog") == [{"outbox": "orchestrator"}]
    assert series(scraped["gateway"], "pao_outbox_oldest_age_seconds") == [{"outbox": "gateway"}]
    # The orchestrator consumed commands and results in its group, and is caught up.
    lag = {(s["group"], s["topic"]) for s in series(o, "pao_consumer_lag_messages")}
    topics = platform.topics
    group = "pao-orchestrator" + platform.settings.topic_suffix
    assert {(group, topics.request_commands), (group, topics.action_results)} <= lag
    assert value(o, "pao_consumer_lag_messages", group=group, topic=topics.action_results) == 0
    # The executor ran the actions the orchestrator counted as settled.
    e = scraped["executor"]
    ran = sum(
        value(e, "pao_executor_actions_total", **labels)
        for labels in series(e, "pao_executor_actions_total")
    )
    assert ran == 4 + 2 + 1 + 2  # executions, and the two compensations
    for name, families in scraped.items():
        assert value(families, "pao_ready") == 1, name

    declared = set().union(*(sample_names(f) for f in scraped.values())) | PROMETHEUS_OWN
    missing = {n: where for n, where in used_metrics().items() if n not in declared}
    assert not missing, f"used by the rules or the dashboard, exported by no service: {missing}"

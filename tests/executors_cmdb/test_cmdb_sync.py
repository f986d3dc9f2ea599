"""The CMDB sync as a real process: it follows pao.resources.events on the real broker,
reads the item version's mapping from a running catalog service, and writes CIs to the
sandbox ServiceNow over HTTP. One CI per resource whatever is replayed; ServiceNow
answering 500 or hanging is retried and caught up; what cannot be synced is dead-lettered
with the reason."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from pao_common.kafka import ensure_topics
from pao_common.messages import (
    ResourceDecommissioned,
    ResourceEvent,
    ResourceOperationStarted,
    ResourceProvisioned,
    ResourceProvisioningStarted,
    ResourceStatus,
    ResourceUpdated,
    to_cloudevent,
)
from pao_common.settings import Settings
from pao_common.topics import Topics
from pao_devtools.ports import free_port

from tests.support.kafka import consume
from tests.support.sandbox import SERVICENOW_PASSWORD, SERVICENOW_USER, SandboxServer
from tests.support.services import ServiceProcess, service_env

REPO = Path(__file__).resolve().parents[2]
ITEM = yaml.safe_load((REPO / "catalog" / "postgres-database.yaml").read_text())
VERSION = ITEM["metadata"]["version"]
TABLE = "cmdb_ci_db_postgresql_instance"
INPUTS = {
    "name": "orders",
    "environment": "development",
    "engine_version": "16",
    "size": "small",
    "storage_gb": 50,
    "backup_retention_days": 7,
    "owner_email": "orders-team@example.com",
}
OUTPUTS = {
    "host": "orders.pg.dev.internal",
    "port": 5432,
    "database": "orders",
    "credentials": "${secret:pg/orders}",
}

pytestmark = pytest.mark.integration


@dataclass
class Follower:
    settings: Settings
    sandbox: SandboxServer
    sync: ServiceProcess
    producer: AIOKafkaProducer

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_suffix)

    async def publish(self, event: ResourceEvent, *, ce_id: str | None = None) -> None:
        cloud = to_cloudevent(event, source="test", subject=event.resource_id, id=ce_id)
        await self.producer.send_and_wait(
            self.topics.resource_events, cloud.value(), key=cloud.key(), headers=cloud.headers()
        )

    async def raw(self, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        await self.producer.send_and_wait(
            self.topics.resource_events, value, key=b"r", headers=headers
        )

    def cis(self) -> list[dict[str, str]]:
        records: list[dict[str, str]] = self.sandbox.state("servicenow")["records"].get(TABLE, [])
        return records

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.sync.url}/metrics").text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
            if match and all(part in match[1].split(",") for part in wanted.split(",") if part):
                total += float(match[2])
        return total

    async def until(self, check: Callable[[], Any], what: str, timeout_s: float = 45.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if result := check():
                return result
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.sync.log_tail(30)}")


@pytest.fixture
async def follower(
    settings: Settings, sandbox: SandboxServer, tmp_path: Path
) -> AsyncIterator[Follower]:
    topics = Topics(settings.topic_suffix)
    await ensure_topics(
        settings.kafka_bootstrap, [topics.resource_events, topics.dlq], partitions=3
    )
    catalog_port = free_port()
    settings = settings.model_copy(update={"catalog_url": f"http://127.0.0.1:{catalog_port}"})
    catalog = ServiceProcess("pao_catalog", service_env(settings), tmp_path, port=catalog_port)
    sync = ServiceProcess(
        "pao_executors.cmdb",
        service_env(
            settings,
            PAO_CMDB_URL=sandbox.servicenow_url,
            PAO_CMDB_USER=SERVICENOW_USER,
            PAO_SECRET_SERVICENOW_PASSWORD=SERVICENOW_PASSWORD,
            PAO_CMDB_TIMEOUT_S="1",
            PAO_CMDB_BACKOFF_S="0.2",
            PAO_CMDB_MAX_BACKOFF_S="1",
            PAO_CMDB_CIRCUIT_FAILURES="3",
            PAO_CMDB_CIRCUIT_RESET_S="1",
        ),
        tmp_path,
    )
    for service in (catalog, sync):
        service.start(wait_ready_s=0)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=0)
    try:
        for service in (catalog, sync):
            service.wait_ready(90)
        await producer.start()
        yield Follower(settings, sandbox, sync, producer)
    finally:
        await producer.stop()
        sync.stop()
        catalog.stop()


def event(
    kind: type[ResourceEvent],
    resource_id: str,
    version: int,
    *,
    status: ResourceStatus = "active",
    item_version: str = VERSION,
    item_id: str = "postgres-database",
    **changes: Any,
) -> ResourceEvent:
    inputs = {**INPUTS, **changes.pop("inputs", {})}
    return kind(
        resource_id=resource_id,
        item_id=item_id,
        item_version=item_version,
        name=f"orders-{resource_id[:8]}",
        owner_team="orders",
        requester_id="frank",
        status=status,
        request_id=f"req-{version}",
        inputs=inputs,
        outputs=OUTPUTS,
        version=version,
        occurred_at=datetime(2026, 12, 3, 10, version, tzinfo=UTC),
        **changes,
    )


async def test_provision_update_replay_and_decommission_leave_one_retired_ci(
    follower: Follower,
) -> None:
    rid = str(uuid.uuid4())
    await follower.publish(event(ResourceProvisioningStarted, rid, 1, status="provisioning"))
    provisioned = event(ResourceProvisioned, rid, 2)
    await follower.publish(provisioned, ce_id="provisioned-1")

    [ci] = await follower.until(follower.cis, "the CI")
    assert {k: ci[k] for k in ("name", "correlation_id", "install_status", "sys_class_name")} == {
        "name": f"orders-{rid[:8]}",
        "correlation_id": rid,
        "install_status": "1",
        "sys_class_name": TABLE,
    }
    # the shipped item's mapping, every value a string as ServiceNow keeps it
    assert ci["environment"] == "development"
    assert ci["version"] == "16"
    assert ci["fqdn"] == "orders.pg.dev.internal"
    assert ci["tcp_port"] == "5432"
    assert ci["instance_name"] == "orders"
    assert ci["u_owner_team"] == "orders"
    assert ci["u_storage_gb"] == "50"
    assert ci["short_description"].startswith("PostgreSQL 16 database orders (development)")
    assert ci["cost_center"] == ""  # optional input not given

    await follower.publish(event(ResourceOperationStarted, rid, 3, status="updating"))
    await follower.publish(
        event(ResourceUpdated, rid, 4, operation="update", inputs={"storage_gb": 100})
    )
    await follower.until(lambda: follower.cis()[0]["u_storage_gb"] == "100", "the update")
    [updated] = follower.cis()
    assert updated["sys_id"] == ci["sys_id"]
    assert updated["sys_mod_count"] == "1"

    # the provisioning event again (same id, older version): passed over, nothing rewinds
    await follower.publish(provisioned, ce_id="provisioned-1")
    await follower.until(
        lambda: follower.metric("pao_cmdb_syncs_total", outcome="already_synced") >= 1,
        "the replay to be passed over",
    )
    [still] = follower.cis()
    assert still["u_storage_gb"] == "100" and still["sys_mod_count"] == "1"

    await follower.publish(
        event(ResourceDecommissioned, rid, 6, status="decommissioned", operation="decommission")
    )
    await follower.until(lambda: follower.cis()[0]["install_status"] == "7", "retirement")
    [retired] = follower.cis()
    assert retired["sys_id"] == ci["sys_id"]
    writes = follower.sandbox.requests("servicenow", path=f"/api/now/table/{TABLE}*")
    assert [r["method"] for r in writes if r["method"] != "GET"] == ["POST", "PATCH", "PATCH"]


async def test_servicenow_500s_and_hangs_are_retried_and_the_sync_catches_up(
    follower: Follower,
) -> None:
    sandbox = follower.sandbox
    path = f"/api/now/table/{TABLE}"
    # down: lookups fail 4 times (the circuit opens after 3), then the create commits but
    # answers 500 (the retry must find it, not create a second CI)
    sandbox.fault("servicenow", method="GET", path=path, status=500, times=4)
    sandbox.fault("servicenow", method="POST", path=path, status=500, when="after")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await follower.publish(event(ResourceProvisioned, first, 2))
    await follower.publish(event(ResourceProvisioned, second, 2))
    await follower.until(lambda: len(follower.cis()) == 2, "both CIs")

    # hanging: the next two updates take longer than the sync's 1 s timeout
    sandbox.fault("servicenow", method="PATCH", path=f"{path}/*", status=200, delay_s=3, times=2)
    await follower.publish(event(ResourceUpdated, first, 4, inputs={"storage_gb": 200}))
    await follower.until(
        lambda: any(c["u_storage_gb"] == "200" for c in follower.cis()), "the late update"
    )

    cis = {c["correlation_id"]: c for c in follower.cis()}
    assert sorted(cis) == sorted([first, second])
    assert cis[first]["u_storage_gb"] == "200" and cis[second]["u_storage_gb"] == "50"
    answered = sandbox.requests("servicenow")
    failed = [r["method"] for r in answered if r["status"] == 500]
    assert sorted(failed) == ["GET"] * 4 + ["POST"]
    # the create that answered 500 was found again and PATCHed (no second POST); then the
    # two hung PATCHes were given up on and a third one wrote
    methods = [r["method"] for r in answered]
    assert methods.count("POST") == 2 and methods.count("PATCH") == 4, methods
    assert follower.metric("pao_cmdb_retries_total", target="servicenow") >= 7
    # the breaker opened on the way and is closed again
    assert follower.metric("pao_executor_circuit_state", executor="cmdb") == 0


async def test_what_cannot_be_synced_goes_to_the_dlq_with_the_reason(
    follower: Follower,
) -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"odd-1"),
        ("ce_type", b"pao.resource.exploded"),
        ("ce_source", b"test"),
    ]
    await follower.raw(b'{"resource_id": "x"}', headers)
    await follower.publish(event(ResourceProvisioned, str(uuid.uuid4()), 2, item_version="0.0.1"))
    # an item that maps to no CI is passed over, not dead-lettered
    await follower.publish(
        event(ResourceProvisioned, str(uuid.uuid4()), 2, item_id="debug-echo", item_version="1.0.0")
    )
    # a table the instance does not have: ServiceNow's 400 is the reason
    follower.sandbox.configure("servicenow", tables=["cmdb_ci"])
    await follower.publish(event(ResourceProvisioned, str(uuid.uuid4()), 2))

    records = await consume(
        follower.settings.kafka_bootstrap, follower.topics.dlq, count=3, timeout_s=45
    )
    reasons = sorted(dict(r.headers)["pao_dlq_reason"].decode() for r in records)
    assert len(reasons) == 3, reasons
    assert reasons[0].startswith("ServiceNow refused GET /api/now/table/")
    assert "Invalid table cmdb_ci_db_postgresql_instance" in reasons[0]
    assert reasons[1].startswith("the catalog has no item 'postgres-database' version '0.0.1'")
    assert reasons[2].startswith("unknown ce_type 'pao.resource.exploded'")
    assert follower.cis() == []

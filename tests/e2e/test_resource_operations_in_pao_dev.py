"""Day-2 operations of the shipped items through ``pao dev``, the way a newcomer runs it.

One ``pao dev`` subprocess on the shipped ``catalog/`` and its sandbox (Terraform Cloud,
the REST targets, JIRA). A resource is provisioned through the gateway with the
requester's token; the database's operations are run through the gateway too
(``POST /api/v1/resources/{id}/operations/{op}``, docs/resources.md), the DNS record's
are submitted as ``SubmitRequest`` with ``resource_id`` and ``operation`` on
``pao.requests.commands``, with the same person's token in ``ce_authtoken``
(docs/kafka-api.md), as another system would. What happened
is read where other systems read it: the resource's history on ``pao.resources.events``
(key: the resource id), the gateway's request and resource views, and the sandbox's
emulated APIs (the Terraform Cloud workspace's runs and variables, the DNS records, the
ServiceNow CMDB that ``pao dev``'s CMDB sync writes through the Table API).

- postgres-database: provision, resize the storage, decommission; the resource passes
  provisioning -> active -> updating -> active -> decommissioning -> decommissioned, and
  both operations ran Terraform in the workspace provisioning made (its output), the
  resize with the new storage, the decommission as a destroy run there; the CMDB holds
  one CI for it (created once, then updated), retired, with the resized storage;
- dns-record: a decommission whose DELETE the DNS API refuses (no rollback possible) leaves
  the record ``active`` with the failed request linked, and the record in the DNS API;
  a second decommission then removes it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pao_common.identity import CREDENTIAL_HEADER
from pao_common.messages import resource_id_for
from pao_common.topics import Topics

from tests.e2e.test_shipped_catalog_in_pao_dev import (
    FINAL,
    SHIPPED_CATALOG,
    Person,
    token_for,
)
from tests.support.pao_dev import PaoDev, running_pao_dev
from tests.support.platform import cloudevent_headers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOPICS = Topics("")  # pao dev's topics: the default names
FRANK = {"id": "frank", "email": "frank@example.com", "teams": ["orders"], "roles": ["engineer"]}
DAVE = {"id": "dave", "email": "dave@example.com", "teams": ["edge"]}


@pytest.fixture(scope="module")
def pao_dev(
    postgres_admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PaoDev]:
    workdir = tmp_path_factory.mktemp("pao-dev-resources")
    with running_pao_dev(
        postgres_admin_url, redis_url, workdir, SHIPPED_CATALOG, label="dev"
    ) as dev:
        yield dev


class Owner(Person):
    """A resource's owner: provisions through the gateway, runs operations over Kafka."""

    def __init__(self, dev: PaoDev, user: dict[str, Any]) -> None:
        super().__init__(dev, token_for(dev, user))
        self.user = user

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.dev.broker_port}"

    def operate(
        self, item_id: str, resource_id: str, operation: str, inputs: dict[str, Any]
    ) -> str:
        request_id = str(uuid.uuid4())
        body = {
            "request_id": request_id,
            "item_id": item_id,
            "inputs": inputs,
            "requester": self.user,
            "resource_id": resource_id,
            "operation": operation,
        }
        headers = [
            *cloudevent_headers("pao.request.submit", request_id),
            (CREDENTIAL_HEADER, self.token.encode()),
        ]

        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
            await producer.start()
            try:
                await producer.send_and_wait(
                    TOPICS.request_commands,
                    json.dumps(body).encode(),
                    key=request_id.encode(),
                    headers=headers,
                )
            finally:
                await producer.stop()

        asyncio.run(send())
        return request_id

    def run(self, resource_id: str, operation: str, inputs: dict[str, Any]) -> str:
        """The operation through the gateway's API: the request id of its 202."""
        response = self.run_answer(resource_id, operation, inputs)
        assert response.status_code == 202, response.text
        request_id: str = response.json()["id"]
        return request_id

    def run_answer(
        self, resource_id: str, operation: str, inputs: dict[str, Any]
    ) -> httpx.Response:
        path = f"/resources/{resource_id}/operations/{operation}"
        return self.call("POST", path, {"inputs": inputs})

    def wait_visible(self, request_id: str) -> dict[str, Any]:
        """The request once it ended (it appears in the gateway's view when recorded)."""
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            response = self.call("GET", f"/requests/{request_id}")
            if response.status_code == 200 and response.json()["status"] in FINAL:
                view: dict[str, Any] = response.json()
                return view
            time.sleep(0.3)
        raise AssertionError(f"request {request_id} never ended\n{self.dev.log_tail(80)}")

    def resource(self, resource_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/resources/{resource_id}")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view


def resource_history(
    dev: PaoDev, resource_id: str, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The resource's events on ``pao.resources.events``, read from the beginning (as a
    CMDB follower would) until ``until(events)``; the deadline only stops a hung test."""

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            TOPICS.resource_events,
            bootstrap_servers=f"127.0.0.1:{dev.broker_port}",
            group_id=f"test-inventory-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        await consumer.start()
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        try:
            while not until(events) and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    for record in part:
                        assert record.key is not None
                        if record.key.decode() != resource_id:
                            continue
                        headers = {k: v.decode() for k, v in record.headers}
                        assert headers["ce_subject"] == resource_id
                        event = json.loads(record.value)
                        event["ce_type"] = headers["ce_type"]
                        events.append(event)
            return events
        finally:
            await consumer.stop()

    return asyncio.run(read())


def tfc_workspace(
    dev: PaoDev, name: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The sandbox TFC workspace called ``name``: itself, its runs, its variables."""
    state = httpx.get(f"{dev.sandbox_url}/tfc/sandbox/state", timeout=30).json()
    [ws] = [w for w in state["workspaces"] if w["attributes"]["name"] == name]
    runs = [r for r in state["runs"] if r["workspace"] == ws["id"]]
    variables = {
        v["attributes"]["key"]: v["attributes"]["value"]
        for v in state["vars"]
        if v["workspace"] == ws["id"]
    }
    return ws, runs, variables


SERVICENOW_AUTH = ("pao.integration", "sandbox-servicenow-password")  # docs/sandbox.md
PG_CI_CLASS = "cmdb_ci_db_postgresql_instance"  # catalog/postgres-database.yaml resource.cmdb


def cmdb_cis(dev: PaoDev, ci_class: str, resource_id: str) -> list[dict[str, Any]]:
    """The CIs of ``ci_class`` whose correlation id is the resource's, through the sandbox
    ServiceNow's Table API (as a CMDB user would query it)."""
    response = httpx.get(
        f"{dev.sandbox_url}/servicenow/api/now/table/{ci_class}",
        params={"sysparm_query": f"correlation_id={resource_id}"},
        auth=SERVICENOW_AUTH,
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["result"]
    return found


def wait_retired_ci(dev: PaoDev, ci_class: str, resource_id: str) -> list[dict[str, Any]]:
    """The resource's CIs once one is retired (the sync follows the events on its own
    consumer group); the deadline only stops a hung test."""
    deadline = time.monotonic() + 90
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = cmdb_cis(dev, ci_class, resource_id)
        if any(ci["install_status"] == "7" for ci in found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"no retired CI for {resource_id}: {found}\n{dev.log_tail(80)}")


def test_a_postgres_database_is_provisioned_resized_and_decommissioned(pao_dev: PaoDev) -> None:
    frank = Owner(pao_dev, FRANK)
    provisioning = frank.submit(
        "postgres-database",
        {"name": "ledger_e2e", "owner_email": "orders-team@example.com", "storage_gb": 50},
    )
    made = frank.wait_visible(provisioning)
    assert made["status"] == "completed", f"{made}\n{pao_dev.log_tail(60)}"
    resource_id = resource_id_for(provisioning)
    workspace = made["outputs"]["workspace"]
    assert workspace == "pg-development-ledger-e2e"  # slugified
    [provision_step] = made["steps"]
    resource = frank.resource(resource_id)
    assert (resource["status"], resource["owner_team"], resource["name"]) == (
        "active",
        "orders",
        "ledger_e2e-development",
    )
    assert resource["outputs"]["workspace"] == workspace
    assert resource["inputs"]["storage_gb"] == 50

    # --- update: the new storage, applied in the resource's own workspace ------------------
    resize = frank.run(resource_id, "update", {"storage_gb": 120})
    resized = frank.wait_visible(resize)
    assert resized["status"] == "completed", f"{resized}\n{pao_dev.log_tail(60)}"
    assert resized["inputs"]["size"] == "small"  # pre-filled from the resource
    [resize_step] = resized["steps"]
    assert resize_step["outputs"]["workspace_id"] == provision_step["outputs"]["workspace_id"]
    _, runs, variables = tfc_workspace(pao_dev, workspace)
    assert variables["allocated_storage"] == "120"
    assert variables["name"] == "ledger_e2e"  # what provisioning set is still there
    assert [r["is-destroy"] for r in runs] == [False, False]
    assert resize in runs[1]["message"] and runs[1]["status"] == "applied"
    resource = frank.resource(resource_id)
    assert resource["status"] == "active"
    assert resource["inputs"]["storage_gb"] == 120
    assert resource["outputs"]["host"] == made["outputs"]["host"]  # the same database

    # --- decommission: a destroy run in that workspace ------------------------------------
    reason = {"reason": "the ledger moved to the shared cluster"}
    decommission = frank.run(resource_id, "decommission", reason)
    gone = frank.wait_visible(decommission)
    assert gone["status"] == "completed", f"{gone}\n{pao_dev.log_tail(60)}"
    ws, runs, _ = tfc_workspace(pao_dev, workspace)
    assert [r["is-destroy"] for r in runs] == [False, False, True]
    assert decommission in runs[2]["message"] and runs[2]["status"] == "applied"
    assert ws["attributes"]["resource-count"] == 0
    resource = frank.resource(resource_id)
    assert resource["status"] == "decommissioned" and resource["decommissioned_at"]
    assert [(r["request_id"], r["operation"], r["status"]) for r in resource["requests"]] == [
        (provisioning, None, "completed"),
        (resize, "update", "completed"),
        (decommission, "decommission", "completed"),
    ]

    # --- the inventory's view: every change, in order, once ----------------------------------
    history = resource_history(
        pao_dev, resource_id, lambda events: any(e["status"] == "decommissioned" for e in events)
    )
    assert [(e["ce_type"].rsplit(".", 1)[1], e["status"]) for e in history] == [
        ("provisioning-started", "provisioning"),
        ("provisioned", "active"),
        ("operation-started", "updating"),
        ("updated", "active"),
        ("operation-started", "decommissioning"),
        ("decommissioned", "decommissioned"),
    ]
    assert [e["version"] for e in history] == list(range(1, 7))
    assert [e["request_id"] for e in history] == [provisioning] * 2 + [resize] * 2 + [
        decommission
    ] * 2
    assert history[3]["inputs"]["storage_gb"] == 120 and history[1]["inputs"]["storage_gb"] == 50
    assert all(e["outputs"]["credentials"] == made["outputs"]["credentials"] for e in history[1:])

    # --- the CMDB: one CI for the resource, written by pao dev's CMDB sync, retired ---------
    [ci] = wait_retired_ci(pao_dev, PG_CI_CLASS, resource_id)
    assert (ci["name"], ci["install_status"], ci["sys_class_name"]) == (
        "ledger_e2e-development",
        "7",
        PG_CI_CLASS,
    )
    assert ci["u_storage_gb"] == "120" and ci["u_owner_team"] == "orders"  # the update
    assert ci["fqdn"] == made["outputs"]["host"] and ci["environment"] == "development"
    written = httpx.get(
        f"{pao_dev.sandbox_url}/servicenow/sandbox/requests",
        params={"path": f"/api/now/table/{PG_CI_CLASS}*", "method": "*"},
        timeout=30,
    ).json()
    writes = [
        (r["method"], r["status"])
        for r in written
        if r["method"] in ("POST", "PATCH", "PUT") and resource_id in json.dumps(r)
    ]
    # Created once (provisioned), then updated in place (updated, decommissioned).
    assert writes == [("POST", 201), ("PATCH", 200), ("PATCH", 200)], writes
    ui = httpx.get(f"{pao_dev.sandbox_url}/servicenow/ui", timeout=30).text
    assert "ledger_e2e-development" in ui and "Retired" in ui

    # A decommissioned resource takes no more operations: 409 from the gateway, and the
    # orchestrator rejects one that comes over Kafka.
    answer = frank.run_answer(resource_id, "update", {"storage_gb": 200})
    assert answer.status_code == 409 and "is decommissioned" in answer.json()["detail"]
    late = frank.operate("postgres-database", resource_id, "update", {"storage_gb": 200})
    refused = frank.wait_visible(late)
    assert refused["status"] == "rejected" and "is decommissioned" in (refused["error"] or "")
    assert frank.resource(resource_id)["version"] == 6


def test_a_failed_decommission_leaves_the_dns_record_active(pao_dev: PaoDev) -> None:
    dave = Owner(pao_dev, DAVE)
    inputs = {"zone": "svc.example.com", "name": "ledger-e2e", "value": "10.1.2.3"}
    provisioning = dave.submit("dns-record", inputs)
    made = dave.wait_visible(provisioning)
    assert made["status"] == "completed", f"{made}\n{pao_dev.log_tail(60)}"
    resource_id = resource_id_for(provisioning)
    record_id = made["outputs"]["record_id"]
    record_url = (
        f"{pao_dev.sandbox_url}/echo/dns-api.internal.example.com/v2/zones/svc.example.com"
        f"/records/{record_id}"
    )
    auth = {"Authorization": "Bearer any"}

    # The DNS API refuses the DELETE for good (409: the record is locked). A 4xx is no
    # outage, so neither the step's retries nor the REST executor's circuit breaker react.
    faults = f"{pao_dev.sandbox_url}/echo/sandbox/faults"
    fault = {"method": "DELETE", "path": "/dns-api.internal.example.com/v2/zones/*", "status": 409}
    httpx.post(faults, json={**fault, "times": 1000}, timeout=30).raise_for_status()
    try:
        failing = dave.operate("dns-record", resource_id, "decommission", {})
        failed = dave.wait_visible(failing)
    finally:
        httpx.delete(faults, timeout=30).raise_for_status()
    assert failed["status"] == "failed", f"{failed}\n{pao_dev.log_tail(60)}"
    assert failed["steps"][0]["status"] == "failed" and "409" in failed["steps"][0]["error"]
    resource = dave.resource(resource_id)
    assert resource["status"] == "active" and resource["decommissioned_at"] is None
    assert resource["active_request"] is None and resource["error"]
    assert resource["requests"][-1]["request_id"] == failing
    assert resource["requests"][-1]["status"] == "failed"
    assert httpx.get(record_url, headers=auth, timeout=30).status_code == 200  # still there

    # Once the DNS API works again, the record can be decommissioned.
    again = dave.operate("dns-record", resource_id, "decommission", {})
    assert dave.wait_visible(again)["status"] == "completed"
    assert dave.resource(resource_id)["status"] == "decommissioned"
    assert httpx.get(record_url, headers=auth, timeout=30).status_code == 404
    history = resource_history(
        pao_dev, resource_id, lambda events: any(e["status"] == "decommissioned" for e in events)
    )
    assert [e["status"] for e in history] == [
        "provisioning",
        "active",
        "decommissioning",
        "active",
        "decommissioning",
        "decommissioned",
    ]
    assert history[3]["ce_type"] == "pao.resource.operation-failed"
    assert history[3]["request_id"] == failing and history[3]["error"]

"""Every example of every item in ``catalog/`` works in ``pao dev``, the way a newcomer runs it.

One ``pao dev`` subprocess (its own free ports, database, Redis prefix and ``.pao/``;
everything else as a newcomer gets it: the bundled broker, the sandbox for JIRA, GitHub,
Terraform Cloud and the REST targets, placeholder secrets). Nothing is scripted: the
sandbox answers as it answers anyone. Each example is submitted through the gateway with
the token of the example's own user (``pao token`` with the teams, roles and manager the
example gives); a request waiting for approval is approved by somebody the approval
names (the requester's manager, else a member of an approver team); a manual item's
JIRA ticket must appear in the sandbox's JIRA, is resolved through the sandbox's JIRA
API (what the button on its ticket page does) and the request must then complete. An
automated item must complete by automation: every step succeeded or skipped, every
declared output set, no fallback ticket. Items and examples are read from ``catalog/``,
so a newly shipped item is covered without a change here.

``tests/e2e/test_catalog_examples.py`` runs the same examples on processes the tests
start, with the sandbox scripted from each item; this test is what ``pao dev`` does.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from pao_catalog.model import CatalogItem, Example, parse_item

from tests.support.pao_dev import PaoDev

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CATALOG = REPO / "catalog"
API = "/api/v1"
# Statuses after which nothing happens without a person (or at all).
WAITS_FOR_A_PERSON = {"awaiting_approval"}
FINAL = {"completed", "failed", "rejected", "expired", "cancelled", "rolled_back"}


def shipped_examples() -> list[Any]:
    cases = []
    for path in sorted(SHIPPED_CATALOG.glob("*.yaml")):
        item = parse_item(yaml.safe_load(path.read_text()))
        for example in item.examples:
            cases.append(pytest.param(item, example, id=f"{path.stem}:{example.name}"))
    return cases


@pytest.fixture(scope="module")
def pao_dev(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaoDev]:
    suffix = uuid.uuid4().hex[:10]
    name = f"pao_dev_{suffix}"
    base, _, _ = postgres_admin_url.rpartition("/")
    dev = PaoDev(
        workdir=tmp_path_factory.mktemp("pao-dev"),
        database_url=f"{base}/{name}",
        redis_prefix=f"pao-test:dev-{suffix}:",
        catalog_dir=SHIPPED_CATALOG,
    )
    started = time.monotonic()
    dev.start()
    print(f"\npao dev ready in {time.monotonic() - started:.1f}s (log {dev.log_path})")
    try:
        yield dev
    finally:
        dev.stop()
        _drop_database(postgres_admin_url, name)


def _drop_database(admin_url: str, name: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:  # safe while an event loop runs
        pool.submit(asyncio.run, drop()).result()


class Person:
    """Somebody using the gateway's API with their own token."""

    def __init__(self, dev: PaoDev, token: str) -> None:
        self.dev = dev
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            self.dev.gateway_url + API + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def submit(self, item_id: str, inputs: dict[str, Any]) -> str:
        response = self.call("POST", "/requests", {"item_id": item_id, "inputs": inputs})
        assert response.status_code == 202, response.text
        request_id: str = response.json()["id"]
        return request_id

    def read(self, request_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/requests/{request_id}")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def wait(
        self, request_id: str, done: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        """Read the request until ``done(view)``; the deadline only stops a hung test."""
        deadline = time.monotonic() + 150
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = self.read(request_id)
            if done(view):
                return view
            time.sleep(0.3)
        raise AssertionError(
            f"request {request_id} never reached {what}: {view}\n{self.dev.log_tail(60)}"
        )


def token_for(dev: PaoDev, user: dict[str, Any]) -> str:
    return dev.token(
        str(user["id"]),
        teams=tuple(user.get("teams") or ()),
        roles=tuple(user.get("roles") or ()),
        email=user.get("email"),
        name=user.get("name"),
        manager=user.get("manager"),
    )


def approver_of(approval: dict[str, Any]) -> dict[str, Any]:
    """Somebody the approval names: a user (the requester's manager), else a team member."""
    if approval.get("approver_users"):
        return {"id": approval["approver_users"][0]}
    team = approval["approver_teams"][0]
    return {"id": f"lead-of-{team}", "teams": [team], "email": f"{team}-lead@example.com"}


def sandbox_jira_issue(dev: PaoDev, key: str) -> dict[str, Any]:
    state = httpx.get(f"{dev.sandbox_url}/jira/sandbox/state", timeout=30).json()
    [issue] = [i for i in state["issues"] if i["key"] == key]
    result: dict[str, Any] = issue
    return result


@pytest.mark.parametrize(("item", "example"), shipped_examples())
def test_shipped_example_works_in_pao_dev(
    item: CatalogItem, example: Example, pao_dev: PaoDev
) -> None:
    requester = Person(pao_dev, token_for(pao_dev, example.user.model_dump()))
    started = time.monotonic()
    request_id = requester.submit(item.metadata.id, example.inputs)
    manual = item.fulfillment.mode == "manual"
    approved_by: str | None = None

    def needs_someone_or_ended(view: dict[str, Any]) -> bool:
        if view["status"] in WAITS_FOR_A_PERSON | FINAL:
            return True
        # A manual item's ticket waits for a person; an automated item's is a fallback.
        return bool(view.get("ticket"))

    view = requester.wait(request_id, needs_someone_or_ended, "a person's turn, or the end")
    if view["status"] == "awaiting_approval":
        approver = approver_of(view["approval"])
        assert approver["id"] != example.user.id
        response = Person(pao_dev, token_for(pao_dev, approver)).call(
            "POST", f"/requests/{request_id}/approve", {"comment": "approved in pao dev"}
        )
        assert response.status_code == 202, response.text
        approved_by = approver["id"]
        view = requester.wait(request_id, needs_someone_or_ended, "the end, after approval")
    if item.approval.required and item.approval.when is None:
        assert approved_by is not None, f"{item.metadata.id} needs an approval: {view}"

    if manual:
        jira = item.fulfillment.manual
        assert jira is not None
        assert view["status"] == "in_progress" and view.get("ticket"), (
            f"no ticket: {view}\n{pao_dev.log_tail(60)}"
        )
        key = view["ticket"]["key"]
        assert key.startswith(f"{jira.jira.project}-"), view["ticket"]
        assert sandbox_jira_issue(pao_dev, key)["resolution"] is None
        # What the "Done" button on the sandbox's ticket page does.
        resolved = httpx.post(
            f"{pao_dev.sandbox_url}/jira/sandbox/issues/{key}/resolve",
            json={"resolution": "Done", "comment": "done in pao dev"},
            timeout=30,
        )
        assert resolved.status_code == 200, resolved.text
        view = requester.wait(request_id, lambda v: v["status"] in FINAL, "the end")

    assert view["status"] == "completed", f"{view}\n{pao_dev.log_tail(80)}"
    if manual:
        key = view["ticket"]["key"]
        assert sandbox_jira_issue(pao_dev, key)["resolution"] == "Done"
        # It completed through the gateway's JIRA webhook, which accepted the signed delivery.
        state = httpx.get(f"{pao_dev.sandbox_url}/jira/sandbox/state", timeout=30).json()
        deliveries = [d for d in state["webhook_deliveries"] if d["issue"] == key]
        assert deliveries and all(d["delivered"] for d in deliveries), deliveries
    else:
        automated = item.fulfillment.automated
        assert automated is not None
        assert not view.get("ticket"), f"fell back to a ticket: {view}"
        steps = {s["id"]: s for s in view["steps"]}
        for step in automated.steps:
            assert steps[step.id]["status"] in ("succeeded", "skipped"), steps[step.id]
        outputs = view["outputs"] or {}
        assert set(outputs) == set(automated.outputs), outputs
        assert all(v not in (None, "") for v in outputs.values()), outputs
    print(
        f"\n{item.metadata.id}:{example.name} completed in {time.monotonic() - started:.1f}s"
        + (f", approved by {approved_by}" if approved_by else "")
    )

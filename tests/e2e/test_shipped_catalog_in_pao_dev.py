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

The rollbacks too: for each automated example with two steps or more, the last step's
target refuses it (a sandbox fault: 422 for a REST call, 400 for a JIRA issue), and every
step done before must be ``compensated`` by the rollback call the item declares, the
sandbox answering it as the item expects, leaving the emulated APIs as they were; then
the request is ``rolled_back``, or its fallback ticket is resolved and it completes.

``tests/e2e/test_catalog_examples.py`` runs the same examples on processes the tests
start, with the sandbox scripted from each item; this test is what ``pao dev`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pao_catalog_model.model import CatalogItem, Example, Step, parse_item
from pao_common.change_calendar import load_calendar

from tests.e2e.scenarios import url_glob
from tests.support.pao_dev import PaoDev, running_pao_dev

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CATALOG = REPO / "catalog"
API = "/api/v1"
# Statuses after which nothing happens without a person (or at all).
WAITS_FOR_A_PERSON = {"awaiting_approval", "awaiting_change_approval"}
FINAL = {"completed", "failed", "rejected", "expired", "cancelled", "rolled_back"}


def shipped_examples() -> list[Any]:
    cases = []
    for path in sorted(SHIPPED_CATALOG.glob("*.yaml")):
        item = parse_item(yaml.safe_load(path.read_text()))
        for example in item.examples:
            cases.append(pytest.param(item, example, id=f"{path.stem}:{example.name}"))
    return cases


@pytest.fixture(scope="module")
def pao_dev(
    postgres_admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PaoDev]:
    workdir = tmp_path_factory.mktemp("pao-dev")
    with running_pao_dev(
        postgres_admin_url, redis_url, workdir, SHIPPED_CATALOG, label="dev"
    ) as dev:
        yield dev


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


def moved_past(version: int) -> Callable[[dict[str, Any]], bool]:
    """A newer view than ``version`` in which a person's turn came, or the end."""
    return lambda view: view["version"] > version and needs_someone_or_ended(view)


def needs_someone_or_ended(view: dict[str, Any]) -> bool:
    if view["status"] == "awaiting_change_approval":
        # a person's turn once the change request is open in ServiceNow
        return bool(((view.get("change") or {}).get("change_request") or {}).get("sys_id"))
    if view["status"] in WAITS_FOR_A_PERSON | FINAL:
        return True
    # A manual item's ticket waits for a person; an automated item's is a fallback.
    return bool(view.get("ticket"))


def submit_and_approve(
    dev: PaoDev, item: CatalogItem, example: Example
) -> tuple[Person, str, dict[str, Any], str | None]:
    """Submit as the example's user; approve as an approver when asked. Returns the
    requester, the request id, the view once a ticket waits or the request ended, and who
    approved."""
    requester = Person(dev, token_for(dev, example.user.model_dump()))
    request_id = requester.submit(item.metadata.id, example.inputs)
    approved_by: str | None = None
    view = requester.wait(request_id, needs_someone_or_ended, "a person's turn, or the end")
    # One decision per stage; the approval is accepted (202) before the orchestrator has
    # recorded it, so wait for the view to move past the version that asked for it.
    while view["status"] in WAITS_FOR_A_PERSON:
        if view["status"] == "awaiting_change_approval":
            # What the Approve button on the sandbox ServiceNow's change request does.
            sys_id = view["change"]["change_request"]["sys_id"]
            approved = httpx.post(
                f"{dev.sandbox_url}/servicenow/sandbox/change_request/{sys_id}/approve",
                json={"user": "change-manager", "comment": "approved in pao dev"},
                timeout=30,
            )
            assert approved.status_code == 200, approved.text
            assert approved.json()["webhook"]["delivered"], approved.json()
            view = requester.wait(
                request_id, moved_past(view["version"]), "the end, after the change approval"
            )
            continue
        approver = approver_of(view["approval"])
        assert approver["id"] != example.user.id
        response = Person(dev, token_for(dev, approver)).call(
            "POST", f"/requests/{request_id}/approve", {"comment": "approved in pao dev"}
        )
        assert response.status_code == 202, response.text
        approved_by = approver["id"]
        view = requester.wait(
            request_id,
            moved_past(view["version"]),
            "the next stage or the end, after approval",
        )
    if item.approval.required and item.approval.when is None:
        assert approved_by is not None, f"{item.metadata.id} needs an approval: {view}"
    return requester, request_id, view, approved_by


def resolve_ticket(
    dev: PaoDev, requester: Person, request_id: str, project: str, view: dict[str, Any]
) -> dict[str, Any]:
    """The ticket is open in the sandbox's JIRA; resolve it there; the request completes
    through the gateway's JIRA webhook."""
    assert view.get("ticket"), f"no ticket: {view}\n{dev.log_tail(60)}"
    key = view["ticket"]["key"]
    assert key.startswith(f"{project}-"), view["ticket"]
    assert sandbox_jira_issue(dev, key)["resolution"] is None
    # What the "Done" button on the sandbox's ticket page does.
    resolved = httpx.post(
        f"{dev.sandbox_url}/jira/sandbox/issues/{key}/resolve",
        json={"resolution": "Done", "comment": "done in pao dev"},
        timeout=30,
    )
    assert resolved.status_code == 200, resolved.text
    view = requester.wait(request_id, lambda v: v["status"] in FINAL, "the end")
    assert view["status"] == "completed", f"{view}\n{dev.log_tail(80)}"
    assert sandbox_jira_issue(dev, key)["resolution"] == "Done"
    state = httpx.get(f"{dev.sandbox_url}/jira/sandbox/state", timeout=30).json()
    deliveries = [d for d in state["webhook_deliveries"] if d["issue"] == key]
    assert deliveries and all(d["delivered"] for d in deliveries), deliveries
    return view


@pytest.mark.parametrize(("item", "example"), shipped_examples())
def test_shipped_example_works_in_pao_dev(
    item: CatalogItem, example: Example, pao_dev: PaoDev
) -> None:
    started = time.monotonic()
    requester, request_id, view, approved_by = submit_and_approve(pao_dev, item, example)

    if item.fulfillment.mode == "manual":
        manual = item.fulfillment.manual
        assert manual is not None
        assert view["status"] == "in_progress", f"{view}\n{pao_dev.log_tail(60)}"
        view = resolve_ticket(pao_dev, requester, request_id, manual.jira.project, view)
    else:
        automated = item.fulfillment.automated
        assert automated is not None
        assert view["status"] == "completed", f"{view}\n{pao_dev.log_tail(80)}"
        assert not view.get("ticket"), f"fell back to a ticket: {view}"
        steps = {s["id"]: s for s in view["steps"]}
        for step in automated.steps:
            assert steps[step.id]["status"] in ("succeeded", "skipped"), steps[step.id]
        outputs = view["outputs"] or {}
        assert set(outputs) == set(automated.outputs), outputs
        assert all(v not in (None, "") for v in outputs.values()), outputs
    # The shipped change calendar's change_requests: a change request approved in the
    # sandbox ServiceNow before it ran (its webhook), closed successful once it completed.
    calendar = load_calendar(REPO / "policies" / "change-calendar.yaml")
    wanted = calendar.change_requests if calendar is not None else None
    if wanted is not None and wanted.applies_to(
        view["change_class"], item.metadata.id, item.metadata.owner
    ):
        change_request = requester.wait(
            request_id,
            lambda v: (
                ((v.get("change") or {}).get("change_request") or {}).get("phase") == "closed"
            ),
            "the change request closed",
        )["change"]["change_request"]
        assert change_request["approval"] == "approved", change_request
        assert change_request["close_code"] == "successful", change_request
    else:
        assert not (view.get("change") or {}).get("change_request"), view
    print(
        f"\n{item.metadata.id}:{example.name} completed in {time.monotonic() - started:.1f}s"
        + (f", approved by {approved_by}" if approved_by else "")
    )


# --- rollback: the undo calls get the answers the items expect ------------------------------


def refusal_of(step: Step) -> tuple[str, dict[str, Any]] | None:
    """A fault that makes the target refuse ``step`` for good: (sandbox system, fault spec)."""
    attempts = step.retry.attempts
    if step.action == "rest":
        path = url_glob(str(step.with_["url"]))
        method = str(step.with_.get("method", "GET")).upper()
        spec = {"method": method, "path": path, "status": 422, "times": attempts}
        return "echo", spec
    if step.action == "jira":
        return "jira", {
            "method": "POST",
            "path": "/rest/api/*/issue",
            "status": 400,
            "times": attempts,
        }
    return None


def steps_status(view: dict[str, Any]) -> str:
    return ", ".join(f"{s['id']} {s['status']}" for s in view["steps"])


def emulated_resources(dev: PaoDev) -> dict[str, Any]:
    """What the sandbox's emulated REST APIs hold, per API and host (empty hosts left out)."""
    state = httpx.get(f"{dev.sandbox_url}/echo/sandbox/state", timeout=30).json()
    return {
        api: {host: held for host, held in hosts.items() if held}
        for api, hosts in state["apis"].items()
    }


def rollback_cases() -> list[Any]:
    """Examples of automated items whose last step can be made to fail after others ran."""
    cases = []
    for param in shipped_examples():
        item, example = param.values
        automated = item.fulfillment.automated
        if automated is None or len(automated.steps) < 2:
            continue
        if refusal_of(automated.steps[-1]) is None:
            continue
        cases.append(pytest.param(item, example, id=param.id))
    return cases


@pytest.mark.parametrize(("item", "example"), rollback_cases())
def test_a_failing_last_step_is_rolled_back_in_pao_dev(
    item: CatalogItem, example: Example, pao_dev: PaoDev
) -> None:
    """The last step's target refuses it; every step done before is undone with the
    rollback call the item declares, and the sandbox answers it as the item expects
    (a rollback that got an unexpected status would leave the step ``failed``)."""
    automated = item.fulfillment.automated
    assert automated is not None
    last = automated.steps[-1]
    refusal = refusal_of(last)
    assert refusal is not None
    system, spec = refusal
    # The examples' own runs above created what this one would (409 Conflict): start over.
    httpx.post(f"{pao_dev.sandbox_url}/echo/sandbox/reset", timeout=30).raise_for_status()
    before = emulated_resources(pao_dev)
    faults = f"{pao_dev.sandbox_url}/{system}/sandbox/faults"
    httpx.post(faults, json=spec, timeout=30).raise_for_status()
    try:
        requester, request_id, view, _ = submit_and_approve(pao_dev, item, example)
    finally:
        httpx.delete(faults, timeout=30).raise_for_status()
    steps = {s["id"]: s for s in view["steps"]}
    if steps[last.id]["status"] == "skipped":  # its ``when:`` is false for this example
        assert view["status"] == "completed", view
        print(f"\n{item.metadata.id}:{example.name} completed: {steps_status(view)}")
        return
    assert steps[last.id]["status"] == "failed", steps[last.id]
    for step in automated.steps[:-1]:
        status = steps[step.id]["status"]
        if status != "skipped":
            undone = "compensated" if step.rollback is not None else "succeeded"
            assert status == undone, f"{step.id}: {steps[step.id]}\n{pao_dev.log_tail(60)}"
    print(f"\n{item.metadata.id}:{example.name} {view['status']}: {steps_status(view)}")
    # Whatever the steps created at their targets is gone again.
    assert emulated_resources(pao_dev) == before
    if automated.fallback_to_manual:
        manual = item.fulfillment.manual
        assert manual is not None
        resolve_ticket(pao_dev, requester, request_id, manual.jira.project, view)
    else:
        assert view["status"] == "rolled_back", view

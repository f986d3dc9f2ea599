"""Every example of every item in ``catalog/`` completes end to end.

gateway (HTTP, dev token of the example's user) -> Kafka -> orchestrator -> executors ->
sandbox, every service a real process. What a person would do is done: an approver
approves approval items, the network team resolves the JIRA ticket of a manual item in the
sandbox (-> webhook -> gateway -> ``TicketResolved``), the change manager approves the
change request the change calendar asks for in the sandbox's ServiceNow (-> webhook ->
gateway -> ``ChangeRequestDecided``). The sandbox answers as
``tests.e2e.scenarios`` derives from the item, so a new item or example is covered here
without a change. No secret value shows up anywhere (``assert_no_secret_leaked``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from pao_catalog_model.model import CatalogItem, Example
from pao_common.change_calendar import load_calendar

from tests.e2e.conftest import MakePlatform
from tests.e2e.platform import SHIPPED_CATALOG, E2EPlatform
from tests.e2e.scenarios import load_item, prepare_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def catalog_examples() -> list[Any]:
    cases = []
    for path in sorted(SHIPPED_CATALOG.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for example in document.get("examples") or []:
            cases.append(pytest.param(path, example["name"], id=f"{path.stem}:{example['name']}"))
    return cases


def approver_of(approval: dict[str, Any]) -> dict[str, Any]:
    """Somebody the request's approval names (a user, else a member of a team)."""
    if approval.get("approver_users"):
        return {"id": approval["approver_users"][0], "teams": []}
    team = approval["approver_teams"][0]
    return {"id": f"approver-{team}", "teams": [team], "email": f"{team}-lead@example.com"}


async def drive_to_the_end(
    platform: E2EPlatform, item: CatalogItem, token: str, request_id: str
) -> tuple[dict[str, Any], list[str]]:
    """Do what people do until the request settles; returns the view and what was done."""
    done: list[str] = []
    while True:
        view = await platform.wait_for(
            token,
            request_id,
            lambda v: (
                v["status"]
                in (
                    "completed",
                    "failed",
                    "rejected",
                    "rolled_back",
                    "cancelled",
                    "expired",
                    "awaiting_approval",
                )
                or (
                    v["status"] == "awaiting_change_approval"
                    and bool(((v.get("change") or {}).get("change_request") or {}).get("sys_id"))
                )
                or (
                    bool(v.get("ticket"))
                    and v["status"] in ("in_progress", "fallback_to_manual")
                    and item.fulfillment.mode == "manual"
                )
            ),
            what="a state that needs a person, or the end",
        )
        status = view["status"]
        if status == "awaiting_approval":
            approver = approver_of(view["approval"])
            response = await platform.api(
                platform.user_token(approver),
                "POST",
                f"/requests/{request_id}/approve",
                {"comment": "looks right (e2e)"},
            )
            assert response.status_code == 202, response.text
            done.append(f"approved by {approver['id']}")
            # One decision per stage: the 202 comes before the orchestrator records it,
            # so wait for the view to move past the version that asked for it.
            asked_at = view["version"]
            await platform.wait_for(
                token,
                request_id,
                lambda v, asked_at=asked_at: v["version"] > asked_at,
                what="the approval recorded",
            )
            continue
        if status == "awaiting_change_approval":
            change_request = view["change"]["change_request"]
            await platform.sandbox.call(
                "POST",
                f"/servicenow/sandbox/change_request/{change_request['sys_id']}/approve",
                {"user": "change-manager", "comment": "approved (e2e)"},
            )
            done.append(f"approved {change_request['number']} in ServiceNow")
            await platform.wait_for(
                token,
                request_id,
                lambda v: v["status"] != "awaiting_change_approval",
                what="change request approved",
            )
            continue
        if status in ("in_progress", "fallback_to_manual") and view.get("ticket"):
            await platform.sandbox.resolve_ticket(view["ticket"]["key"], "Done")
            done.append(f"resolved {view['ticket']['key']}")
            view = await platform.wait_status(
                token, request_id, ("completed", "failed", "cancelled")
            )
        return view, done


@pytest.mark.parametrize(("path", "example_name"), catalog_examples())
async def test_example_completes(
    path: Path,
    example_name: str,
    make_e2e_platform: MakePlatform,
    db_pool: asyncpg.Pool,
) -> None:
    item = load_item(path)
    example: Example = next(e for e in item.examples if e.name == example_name)
    platform = await make_e2e_platform()
    planted = await prepare_sandbox(platform.sandbox, item, example)
    token = platform.user_token(example.user.model_dump())

    request_id = await platform.submit_request(token, item.metadata.id, example.inputs)
    view, done = await drive_to_the_end(platform, item, token, request_id)

    assert view["status"] == "completed", f"{view}\n{platform.logs()}"
    assert view["item_id"] == item.metadata.id
    assert view["item_version"] == item.metadata.version
    if item.approval.required and "approved by" not in " ".join(done):
        # Conditional approval (``when:``) that did not apply to this example.
        assert item.approval.when is not None, view
    if item.fulfillment.mode == "manual":
        await assert_ticket_worked(platform, item, view)
    else:
        assert_automated_outputs(item, view, planted)
    events = [e["event_type"] for e in await platform.events(token, request_id)]
    # After the end, only the change request's closing (when it had one).
    lifecycle = [e for e in events if e not in ("ChangeRequestClosing", "ChangeRequestClosed")]
    assert events[0] == "RequestSubmitted" and lifecycle[-1] == "RequestCompleted", events
    calendar = load_calendar(SHIPPED_CATALOG.parent / "policies" / "change-calendar.yaml")
    wanted = calendar.change_requests if calendar is not None else None
    if wanted is not None and wanted.applies_to(
        view["change_class"], item.metadata.id, item.metadata.owner
    ):
        assert "ChangeRequestOpened" in events, events
        await assert_change_request_worked(platform, view)
    else:
        assert "ChangeRequestOpening" not in events, events
    searched = await platform.assert_no_secret_leaked(db_pool)
    assert searched > len(platform.processes())
    await assert_lead_time_reported(platform, item)


async def assert_lead_time_reported(platform: E2EPlatform, item: CatalogItem) -> None:
    """The lead-time report shows the request against the item's shipped baseline (every
    shipped item but the debug one declares one), so the reduction is there out of the box."""
    admin = platform.user_token({"id": "head-of-platform", "roles": ["platform-admin"]})
    response = await platform.api(
        admin, "GET", "/reports/lead-time", params={"item": item.metadata.id}
    )
    assert response.status_code == 200, response.text
    (entry,) = response.json()["items"]
    assert entry["outcomes"]["completed"] == 1, entry
    baseline = item.metadata.baseline_lead_time
    assert entry["baseline_lead_time"] == baseline, entry
    if item.metadata.id == "debug-echo":
        assert baseline is None and entry["reduction_vs_baseline"] is None
        return
    assert baseline is not None, f"{item.metadata.id} ships no baseline_lead_time"
    # Minutes at most against days: the reduction rounds to (nearly) all of it.
    assert entry["reduction_vs_baseline"] >= 0.99, entry


async def assert_ticket_worked(
    platform: E2EPlatform, item: CatalogItem, view: dict[str, Any]
) -> None:
    manual = item.fulfillment.manual
    assert manual is not None
    ticket = view["ticket"]
    assert ticket and ticket["key"].startswith(f"{manual.jira.project}-"), view
    jira = await platform.sandbox.state("jira")
    [issue] = [i for i in jira["issues"] if i["key"] == ticket["key"]]
    assert issue["resolution"] == "Done", issue
    # It completed through the gateway's webhook, which accepted the signed delivery.
    deliveries = [d for d in jira["webhook_deliveries"] if d["issue"] == ticket["key"]]
    assert deliveries and all(d["delivered"] for d in deliveries), deliveries


async def assert_change_request_worked(platform: E2EPlatform, view: dict[str, Any]) -> None:
    """Approved before it ran, closed successful once it completed (through the webhook)."""
    number = view["change"]["change_request"]["number"]

    def closed(state: dict[str, Any]) -> dict[str, Any] | None:
        found = [r for r in state["records"].get("change_request", []) if r["number"] == number]
        return found[0] if found and found[0]["state"] == "3" else None

    for _ in range(150):
        state = await platform.sandbox.state("servicenow")
        if (record := closed(state)) is not None:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"{number} never closed: {state}")
    assert record["close_code"] == "successful" and record["approval"] == "approved", record
    deliveries = [d for d in state["webhook_deliveries"] if d["number"] == number]
    assert deliveries and all(d["delivered"] for d in deliveries), deliveries


def assert_automated_outputs(
    item: CatalogItem, view: dict[str, Any], planted: dict[str, dict[str, Any]]
) -> None:
    automated = item.fulfillment.automated
    assert automated is not None
    outputs = view["outputs"] or {}
    assert set(outputs) == set(automated.outputs), outputs
    assert all(v not in (None, "") for v in outputs.values()), outputs
    steps = {s["id"]: s for s in view["steps"]}
    for step in automated.steps:
        assert steps[step.id]["status"] in ("succeeded", "skipped"), steps[step.id]
    for step_id, values in planted.items():
        if steps[step_id]["status"] == "succeeded":
            for name, value in values.items():
                assert steps[step_id]["outputs"][name] == value, (step_id, name)
    # An output that is just a step's output carries the value the sandbox gave.
    for name, template in automated.outputs.items():
        for step_id, values in planted.items():
            for key, value in values.items():
                if str(template).replace(" ", "") == f"{{{{steps.{step_id}.outputs.{key}}}}}":
                    assert outputs[name] == value, (name, outputs[name], value)

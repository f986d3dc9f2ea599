"""Failure paths end to end, over real sockets: gateway -> Kafka -> orchestrator ->
executors -> sandbox, every service a real process.

- a GitHub run that fails: the step fails, the completed steps are rolled back in reverse
  order, and the item's manual fallback opens a JIRA ticket (resolving it completes);
- a Terraform apply that errors: the executor issues a destroy run (``destroy_on_error``);
- a Terraform apply that succeeds but whose item outputs do not render (issue #10
  finding 2): the request rolls back, and the workspace is destroyed;
- JIRA answering 500, then 201: retried, exactly one ticket;
- a REST target answering 429 with ``Retry-After``: honoured, then the call succeeds;
- a target that is down: the circuit opens, requests fail fast, and it recovers when the
  target is back.

Each test also searches every log line, event and API response for the secrets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import MakePlatform
from tests.e2e.platform import E2E_CATALOG, SHIPPED_CATALOG, E2EPlatform
from tests.e2e.scenarios import load_item, prepare_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNA = {"id": "una", "email": "una@example.com", "teams": ["platform"]}
ENDED = ("completed", "failed", "rolled_back", "cancelled")


def at(entry: dict[str, Any]) -> float:
    """When the sandbox received a request (its clock, epoch seconds)."""
    return float(entry["received_at"])


async def test_a_failed_github_run_is_rolled_back_and_falls_back_to_a_ticket(
    e2e_platform: E2EPlatform, db_pool: asyncpg.Pool
) -> None:
    platform = e2e_platform
    item = load_item(E2E_CATALOG / "e2e-github-fallback.yaml")
    await prepare_sandbox(platform.sandbox, item, item.examples[0])
    await platform.sandbox.call(
        "POST",
        "/github/sandbox/workflows",
        {
            "repo": "acme/e2e-factory",
            "file": "provision.yml",
            "run_name": "Provision ${{ inputs.correlation_id }}",  # how PAO finds its run
            "conclusion": "failure",
        },
    )
    token = platform.user_token(UNA)

    request_id = await platform.submit_request(token, item.metadata.id, {"name": "widget-1"})
    view = await platform.wait_ticket(token, request_id)

    assert view["status"] == "fallback_to_manual", view
    steps = {s["id"]: s for s in view["steps"]}
    assert steps["provision"]["status"] == "failed"
    assert "failure" in (steps["provision"]["error"] or ""), steps["provision"]
    assert steps["reserve"]["status"] == "compensated"
    assert steps["register"]["status"] == "compensated"
    # The run really ran (and failed) in the sandbox's GitHub.
    runs = (await platform.sandbox.state("github"))["runs"]
    assert [r["conclusion"] for r in runs] == ["failure"], runs
    # Rolled back in reverse order: the entry (step 2) first, then the reservation (step 1).
    deletes = await platform.sandbox.requests("echo", method="DELETE")
    assert [d["path"].split("/")[1] for d in sorted(deletes, key=at)] == [
        "registry.internal.example.com",
        "inventory.internal.example.com",
    ]
    events = [e["event_type"] for e in await platform.events(token, request_id)]
    order = [
        "StepFailed",
        "RollbackStarted",
        "StepCompensated",
        "StepCompensated",
        "FallbackToManual",
    ]
    assert [e for e in events if e in order] == order, events
    # The fallback ticket, in the item's project, says why.
    ticket = view["ticket"]
    [issue] = (await platform.sandbox.state("jira"))["issues"]
    assert issue["key"] == ticket["key"] and issue["key"].startswith("E2E-")
    assert "pao-fallback" in issue["labels"]
    assert "failure" in str(issue["description"])

    await platform.sandbox.resolve_ticket(ticket["key"], "Done")
    final = await platform.wait_status(token, request_id, ENDED)
    assert final["status"] == "completed", final
    await platform.assert_no_secret_leaked(db_pool)


async def test_a_terraform_apply_that_errors_issues_a_destroy_run(
    e2e_platform: E2EPlatform, db_pool: asyncpg.Pool
) -> None:
    platform = e2e_platform
    await platform.sandbox.call(
        "POST", "/tfc/sandbox/faults/apply-error", {"workspace": "e2e-bucket-1", "times": 1}
    )
    token = platform.user_token(UNA)

    request_id = await platform.submit_request(token, "e2e-terraform-error", {"name": "bucket-1"})
    view = await platform.wait_status(token, request_id, ENDED)

    assert view["status"] == "failed", view
    [step] = view["steps"]
    assert step["status"] == "failed" and step["attempts"] == 1, step
    assert "errored" in step["error"], step
    tfc = await platform.sandbox.state("tfc")
    [workspace] = [w for w in tfc["workspaces"] if w["attributes"]["name"] == "e2e-bucket-1"]
    runs = [r for r in tfc["runs"] if r["workspace"] == workspace["id"]]
    kinds = [(r["is-destroy"], r["status"]) for r in sorted(runs, key=lambda r: r["created-at"])]
    # The apply errored, then the executor queued a destroy run that applied.
    assert kinds == [(False, "errored"), (True, "applied")], runs
    await platform.assert_no_secret_leaked(db_pool)


async def tfc_api(platform: E2EPlatform, path: str) -> Any:
    """GET ``path`` of the sandbox's Terraform Cloud API, as the terraform executor calls it."""
    env = platform.sandbox_env
    async with httpx.AsyncClient(
        base_url=env["PAO_TFC_URL"] + "/api/v2",
        headers={"Authorization": f"Bearer {env['PAO_TFC_TOKEN']}"},
        timeout=30,
    ) as client:
        response = await client.get(path)
    response.raise_for_status()
    return response.json()


async def test_item_outputs_that_do_not_render_destroy_the_applied_workspace(
    e2e_platform: E2EPlatform, db_pool: asyncpg.Pool
) -> None:
    """Finding 2 (issue #10): the apply succeeded, then the item's outputs read
    ``steps.provision.outputs.endpoint``, which the workspace never wrote. The request
    ends rolled back and the workspace is destroyed, not left applied."""
    platform = e2e_platform
    token = platform.user_token(UNA)

    request_id = await platform.submit_request(token, "e2e-terraform-outputs", {"name": "orders"})
    view = await platform.wait_status(token, request_id, ENDED)

    assert view["status"] == "rolled_back", view
    [step] = view["steps"]
    assert step["status"] == "compensated", step
    assert "item outputs" in view["error"] and "endpoint" in view["error"], view["error"]
    events = [e["event_type"] for e in await platform.events(token, request_id)]
    order = [
        "StepSucceeded",
        "AutomationFailed",
        "RollbackStarted",
        "StepCompensated",
        "RequestRolledBack",
    ]
    assert [e for e in events if e in order] == order, events
    assert "RequestFailed" not in events and "RequestCompleted" not in events
    # In Terraform Cloud (the sandbox's API): the apply, then a destroy run, both applied.
    org = platform.sandbox_env["PAO_TFC_ORGANIZATION"]
    workspace = (await tfc_api(platform, f"/organizations/{org}/workspaces/e2e-out-orders"))["data"]
    runs = (await tfc_api(platform, f"/workspaces/{workspace['id']}/runs"))["data"]
    kinds = [
        (r["attributes"]["is-destroy"], r["attributes"]["status"])
        for r in sorted(runs, key=lambda r: r["attributes"]["created-at"])
    ]
    assert kinds == [(False, "applied"), (True, "applied")], runs
    assert workspace["attributes"]["resource-count"] == 0, workspace["attributes"]
    left = await tfc_api(platform, f"/workspaces/{workspace['id']}/current-state-version-outputs")
    assert left["data"] == [], left  # the destroy left an empty state
    await platform.assert_no_secret_leaked(db_pool)


@pytest.mark.parametrize("when", ["before", "after"], ids=["500-before-commit", "500-after-commit"])
async def test_jira_answering_500_then_201_makes_one_ticket(
    when: str, e2e_platform: E2EPlatform, db_pool: asyncpg.Pool
) -> None:
    """``before``: JIRA fails the call; ``after``: it commits the issue, then answers 500."""
    platform = e2e_platform
    item = load_item(SHIPPED_CATALOG / "firewall-change.yaml")
    example = item.examples[0]
    await platform.sandbox.fault(
        "jira", method="POST", path="/rest/api/2/issue", status=500, times=1, when=when
    )
    token = platform.user_token(example.user.model_dump())

    request_id = await platform.submit_request(token, item.metadata.id, example.inputs)
    view = await platform.wait_ticket(token, request_id)

    creates = await platform.sandbox.requests("jira", path="/rest/api/2/issue", method="POST")
    assert [c["status"] for c in creates][:1] == [500], creates
    issues = (await platform.sandbox.state("jira"))["issues"]
    assert len(issues) == 1, issues
    assert view["ticket"]["key"] == issues[0]["key"]
    await platform.sandbox.resolve_ticket(view["ticket"]["key"])
    final = await platform.wait_status(token, request_id, ENDED)
    assert final["status"] == "completed", final
    assert len((await platform.sandbox.state("jira"))["issues"]) == 1
    await platform.assert_no_secret_leaked(db_pool)


async def test_a_rest_target_answering_429_is_retried_after_retry_after(
    e2e_platform: E2EPlatform, db_pool: asyncpg.Pool
) -> None:
    platform = e2e_platform
    item = load_item(SHIPPED_CATALOG / "dns-record.yaml")
    example = item.examples[0]
    planted = await prepare_sandbox(platform.sandbox, item, example)
    # The DNS API is rate limited once: 429 with Retry-After: 2, then the scripted 201.
    path = "/dns-api.internal.example.com/v2/zones/*/records"
    await platform.sandbox.script(
        path, {"status": 429, "headers": {"Retry-After": "2"}, "json": {"error": "slow down"}}
    )
    token = platform.user_token(example.user.model_dump())

    request_id = await platform.submit_request(token, item.metadata.id, example.inputs)
    view = await platform.wait_status(token, request_id, ENDED)

    assert view["status"] == "completed", view
    assert view["outputs"]["record_id"] == planted["create_record"]["record_id"]
    [step] = view["steps"]
    assert step["attempts"] == 1, step  # retried inside the action, not by the orchestrator
    calls = sorted(await platform.sandbox.requests("echo", path=path, method="POST"), key=at)
    assert [c["status"] for c in calls] == [429, 201], calls
    waited = at(calls[1]) - at(calls[0])
    assert waited >= 2.0, f"Retry-After: 2 not honoured: next call after {waited:.2f}s"
    await platform.assert_no_secret_leaked(db_pool)


async def circuit_state(platform: E2EPlatform, target: str) -> str | None:
    """The rest executor's circuit state metric for ``target`` (host:port)."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(platform.service("pao_executors.rest").url + "/metrics")
    metrics = response.text
    for line in metrics.splitlines():
        if line.startswith("pao_executor_circuit_state{") and f'target="{target}"' in line:
            return line.rsplit(" ", 1)[-1]
    return None


async def test_a_target_that_is_down_opens_the_circuit_and_recovers(
    make_e2e_platform: MakePlatform, db_pool: asyncpg.Pool
) -> None:
    platform = await make_e2e_platform(
        # The reset time must outlast one request's round trip on a loaded machine, or the
        # third ping below already finds the circuit half-open and probes the target.
        extra_env={"PAO_REST_CIRCUIT_FAILURES": "2", "PAO_REST_CIRCUIT_RESET_S": "10"}
    )
    token = platform.user_token(UNA)
    item_id = "e2e-rest-ping"

    async def ping() -> dict[str, Any]:
        request_id = await platform.submit_request(token, item_id, {})
        return await platform.wait_status(token, request_id, ENDED)

    assert (await ping())["status"] == "completed"
    # The target goes down (the sandbox process that plays it stops).
    assert platform.sandbox_process is not None
    await asyncio.to_thread(platform.sandbox_process.stop)

    errors = []
    for _ in range(2):
        view = await ping()
        assert view["status"] == "failed", view
        errors.append(view["steps"][0]["error"])
    assert all("cannot connect" in e for e in errors), errors
    # Open now: the next request fails at once, without trying to connect.
    fast = await ping()
    assert fast["status"] == "failed"
    assert "circuit" in fast["steps"][0]["error"].lower(), fast["steps"][0]
    target = "status.internal.example.com:443"
    assert await circuit_state(platform, target) not in (None, "0", "0.0")

    # The target returns; after the reset time one probe goes through and closes it.
    await asyncio.to_thread(platform.restart_sandbox)
    outcomes = []
    for _ in range(60):
        view = await ping()
        outcomes.append(view["status"])
        if view["status"] == "completed":
            break
        assert "circuit" in view["steps"][0]["error"].lower(), view["steps"][0]
        await asyncio.sleep(0.5)
    assert outcomes[-1] == "completed", outcomes
    assert await circuit_state(platform, target) in ("0", "0.0")
    await platform.assert_no_secret_leaked(db_pool)


async def test_a_secret_echoed_back_by_a_target_is_redacted_everywhere(
    e2e_platform: E2EPlatform, db_pool: asyncpg.Pool
) -> None:
    """The echo target answers 200 with the request's headers, Authorization included;
    the step expects 201, so its error quotes the answer: the credential must not show."""
    platform = e2e_platform
    token = platform.user_token(UNA)

    request_id = await platform.submit_request(token, "e2e-rest-ping", {"expect": 201})
    view = await platform.wait_status(token, request_id, ENDED)

    assert view["status"] == "failed", view
    error = view["steps"][0]["error"]
    assert "HTTP 200, expected [201]" in error and "authorization" in error.lower(), error
    assert "***" in error, error
    # The credential did reach the target (the sandbox saw it) ...
    [seen] = await platform.sandbox.requests("echo", path="/status.internal.example.com/*")
    assert seen["headers"]["authorization"] == f"Bearer {platform.secret_values['e2e/api-token']}"
    # ... and appears nowhere in PAO.
    searched = await platform.assert_no_secret_leaked(db_pool)
    assert searched > 10

"""My resources in a browser: the team's resources, one's outputs and history, its
operations as buttons that open their generated forms, and what the gateway answers.

A resource is provisioned through the gateway (alice, team platform); a resource of
another team is not listed. On its page alice opens the decommission form, which stays
locked until she types the resource's name; a colleague starts a resize meanwhile, so
the decommission is refused (409) naming the running request. The resize's form is
pre-filled with the resource's values as they are after the colleague's change; a size
the form does not allow is answered 422 under the field; a valid one becomes a request
that completes; then the decommission goes through, and the resource is listed as
decommissioned with no operation left.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pao_common.messages import resource_id_for
from pao_common.settings import Settings

from tests.portal.test_portal_browser import _need_chromium, _sign_in
from tests.support.browser import Page, browser_page
from tests.support.platform import Platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITEM = """
schemaVersion: "2.0"
metadata: {id: portal-cache, name: Portal cache, version: 1.0.0, owner: platform,
           category: debug, description: A cache with day-2 operations}
presentation:
  fields:
    - {id: name, type: string, label: Name, required: true}
    - {id: size, type: integer, label: Size (GB), default: 1,
       validation: {minimum: 1, maximum: 10}}
fulfillment:
  mode: automated
  automated:
    steps:
      - id: make
        action: debug.log
        with:
          message: "make {{ inputs.name }}"
          outputs: {endpoint: "cache-{{ inputs.name }}.internal:6379"}
    outputs:
      endpoint: "{{ steps.make.outputs.endpoint }}"
      password: "{{ secret('portal/cache-password') }}"
resource:
  name: "{{ inputs.name }}"
operations:
  - id: update
    title: Resize
    presentation:
      fields:
        - {id: size, type: integer, label: Size (GB), required: true,
           validation: {minimum: 1, maximum: 10}}
        - {id: drain_s, type: integer, label: Drain time (s), default: 0,
           validation: {minimum: 0, maximum: 60}}
    fulfillment:
      mode: automated
      automated:
        steps:
          - {id: drain, action: debug.wait, with: {seconds: "{{ inputs.drain_s }}"}}
          - id: resize
            action: debug.log
            with: {message: "{{ resource.outputs.endpoint }} -> {{ inputs.size }} GB"}
  - id: failover
    title: Fail over
    access: {roles: [dba]}
    fulfillment:
      mode: automated
      automated:
        steps: [{id: failover, action: debug.log, with: {message: failover}}]
  - id: decommission
    title: Decommission
    fulfillment:
      mode: automated
      automated:
        steps:
          - {id: drop, action: debug.log, with: {message: "drop {{ resource.outputs.endpoint }}"}}
examples:
  - {name: small, user: {id: alice, teams: [platform]}, inputs: {name: orders-cache, size: 2}}
"""

TERMINAL = {"completed", "failed", "rejected", "cancelled", "rolled_back", "expired"}


@pytest.fixture
def platform(settings: Settings, tmp_path: Path) -> Iterator[Platform]:
    platform = Platform(settings=settings, log_dir=tmp_path, with_gateway=True)
    (platform.settings.catalog_dir / "portal-cache.yaml").write_text(ITEM)
    try:
        yield platform.start()
    finally:
        platform.stop()


class Api:
    """The gateway's HTTP API as one person (a bearer token minted for them)."""

    def __init__(self, platform: Platform, user: str, teams: tuple[str, ...]) -> None:
        assert platform.gateway is not None
        self.url = platform.gateway.url + "/api/v1"
        self.headers = {"Authorization": f"Bearer {platform.token(user, teams)}"}

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.request(
                method, self.url + path, json=body, headers={**self.headers, **headers}
            )
        return response

    async def provision(self, name: str, size: int) -> str:
        r = await self.call(
            "POST", "/requests", {"item_id": "portal-cache", "inputs": {"name": name, "size": size}}
        )
        assert r.status_code == 202, r.text
        request_id: str = r.json()["id"]
        await self.until_ended(request_id)
        return resource_id_for(request_id)

    async def until_ended(self, request_id: str) -> dict[str, Any]:
        """The request once it ended; the deadline only stops a hung test."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            r = await self.call("GET", f"/requests/{request_id}")
            if r.status_code == 200 and r.json()["status"] in TERMINAL:
                view: dict[str, Any] = r.json()
                return view
            await asyncio.sleep(0.2)
        raise AssertionError(f"request {request_id} never ended")

    async def resource(self, resource_id: str) -> dict[str, Any]:
        r = await self.call("GET", f"/resources/{resource_id}")
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        return view


def js(value: str) -> str:
    return json.dumps(value)


async def _values(page: Page, expression: str) -> Any:
    """A JavaScript value (an array, an object) as Python's (evaluate answers primitives)."""
    return json.loads(await page.evaluate(f"JSON.stringify({expression})"))


async def _open_operation(page: Page, operation: str) -> None:
    await page.wait_for(f"!!document.querySelector('button[data-operation={operation}]')")
    await page.evaluate(
        f"document.querySelector('button[data-operation={operation}]').click(); true"
    )
    await page.wait_for(f"!!document.querySelector('form[data-operation={operation}]')")


async def _type(page: Page, selector: str, value: str) -> None:
    """Set a field as typing would (its input and change events fire)."""
    done = await page.evaluate(
        f"(e => {{ e.value = {js(value)};"
        " e.dispatchEvent(new Event('input', {bubbles: true}));"
        " e.dispatchEvent(new Event('change', {bubbles: true})); return true; })"
        f"(document.querySelector({js(selector)}))"
    )
    assert done is True, f"could not type into {selector}"


async def test_my_resources_lists_shows_and_runs_operations(
    platform: Platform, tmp_path: Path
) -> None:
    _need_chromium()
    assert platform.gateway is not None
    alice = Api(platform, "alice", ("platform",))
    carol = Api(platform, "carol", ("platform",))  # alice's colleague
    bob = Api(platform, "bob", ("search",))
    name = f"orders-cache-{uuid.uuid4().hex[:6]}"
    mine = await alice.provision(name, 2)
    theirs = await bob.provision(f"search-cache-{uuid.uuid4().hex[:6]}", 1)
    assert (await alice.resource(mine))["status"] == "active"

    async with browser_page() as page:
        await page.goto(platform.gateway.url + "/portal/#/resources")
        await _sign_in(page, "alice", "platform")
        row = f"document.querySelector('tr[data-resource=\"{mine}\"]')"
        text = await page.wait_for(f"{row} && {row}.innerText")
        assert name in text and "portal-cache v1.0.0" in text and "active" in text
        assert "platform" in text
        assert await page.evaluate(f"!document.querySelector('tr[data-resource=\"{theirs}\"]')")
        assert await page.evaluate(
            "[...document.querySelectorAll('header nav a')].some("
            "a => a.textContent === 'My resources' && a.getAttribute('href') === '#/resources')"
        )

        # --- one resource: status, outputs (the secret as its reference), history ------------
        await page.evaluate(f"{row}.querySelector('a').click(); true")
        assert (
            await page.wait_for(
                f"(h => h && h.textContent === {js(name)} && h.textContent)"
                "(document.querySelector('h1'))"
            )
            == name
        )
        body = await page.wait_for("document.body.innerText")
        assert f"cache-{name}.internal:6379" in body
        assert "${secret:portal/cache-password}" in body
        history = await _values(
            page,
            "[...document.querySelectorAll('table.history tr[data-request]')]"
            ".map(r => [...r.cells].slice(1, 3).map(c => c.textContent).join(' '))",
        )
        assert history == ["provision completed"]
        # Allowed now: buttons; the dba-only failover is shown disabled with why.
        buttons = await _values(
            page,
            "[...document.querySelectorAll('.operation-buttons button')].map(b => b.textContent)",
        )
        assert buttons == ["Resize", "Decommission"]
        failover = await page.evaluate(
            "document.querySelector('[data-unavailable=failover]').innerText"
        )
        assert "Fail over" in failover and "dba" in failover

        # --- decommission: locked until the resource's name is typed -------------------------
        await _open_operation(page, "decommission")
        submit = "document.querySelector('form[data-operation=decommission] button[type=submit]')"
        assert await page.evaluate(f"{submit}.disabled")
        await _type(page, "input[name=confirm-name]", name.upper())
        assert await page.evaluate(f"{submit}.disabled")
        await _type(page, "input[name=confirm-name]", name)
        assert not await page.evaluate(f"{submit}.disabled")

        # Meanwhile carol resizes it (8 s of drain): the decommission is refused, 409,
        # naming her running request.
        r = await carol.call(
            "POST",
            f"/resources/{mine}/operations/update",
            {"inputs": {"size": 3, "drain_s": 8}},
            **{"Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 202, r.text
        running = r.json()["id"]
        await page.evaluate(f"{submit}.click(); true")
        problem = await page.wait_for(
            "(p => p && p.textContent && p.innerText)"
            "(document.querySelector('form[data-operation=decommission] .operation-problem'))"
        )
        assert problem.startswith("Not now:"), problem
        assert await page.evaluate(
            "document.querySelector('a.running-request').getAttribute('href')"
        ) == (f"#/requests/{running}")
        assert (await page.evaluate("location.hash")).startswith(f"#/resources/{mine}")
        await page.screenshot(tmp_path / "portal-resource-busy.png")
        assert (await carol.until_ended(running))["status"] == "completed"

        # --- resize: pre-filled with the resource as it is now; 422 under the field -----------
        await page.evaluate(f"location.hash = '#/resources/{mine}'; location.reload(); true")
        await _open_operation(page, "update")
        size = "form[data-operation=update] [data-field=size] input"
        resize = "document.querySelector('form[data-operation=update] button[type=submit]')"
        assert await page.evaluate(f"document.querySelector({js(size)}).value") == "3"
        await _type(page, size, "50")
        await page.evaluate(f"{resize}.click(); true")
        error = await page.wait_for(
            "document.querySelector('form[data-operation=update] [data-field=size] .error')"
            ".textContent"
        )
        assert "10" in error, error
        assert (await page.evaluate("location.hash")).startswith(f"#/resources/{mine}")
        await _type(page, size, "4")
        await page.evaluate(f"{resize}.click(); true")
        await page.wait_for("location.hash.startsWith('#/requests/')")
        status = await page.wait_for(
            "(s => s && s.textContent === 'completed' && s.textContent)"
            "(document.querySelector('.card .status'))",
            timeout_s=60,
        )
        assert status == "completed"
        resized = (await page.evaluate("location.hash")).removeprefix("#/requests/")
        resource = await alice.resource(mine)
        assert resource["inputs"]["size"] == 4
        assert [q["request_id"] for q in resource["requests"]][1:] == [running, resized]

        # --- decommission, confirmed -----------------------------------------------------------
        await page.evaluate(f"location.hash = '#/resources/{mine}?operation=decommission'; true")
        await page.wait_for("!!document.querySelector('form[data-operation=decommission]')")
        await _type(page, "input[name=confirm-name]", name)
        await page.evaluate(f"{submit}.click(); true")
        await page.wait_for("location.hash.startsWith('#/requests/')")
        await page.wait_for(
            "(s => s && s.textContent === 'completed')(document.querySelector('.card .status'))",
            timeout_s=60,
        )
        await page.evaluate(f"location.hash = '#/resources/{mine}'; true")
        await page.wait_for(
            "(s => s && s.textContent === 'decommissioned')"
            "(document.querySelector('.resource-summary .status'))"
        )
        assert (
            await page.evaluate("document.querySelectorAll('.operation-buttons button').length")
            == 0
        )
        history = await _values(
            page,
            "[...document.querySelectorAll('table.history tr[data-request]')]"
            ".map(r => r.cells[1].textContent)",
        )
        assert history == ["provision", "update", "update", "decommission"]
        await page.screenshot(tmp_path / "portal-resource-decommissioned.png")

        await page.evaluate("location.hash = '#/resources?status=decommissioned'; true")
        listed = await page.wait_for(f"{row} && {row}.innerText")
        assert "decommissioned" in listed
        await page.screenshot(tmp_path / "portal-resources-list.png")
        assert page.errors == []

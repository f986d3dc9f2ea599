"""The approver inbox in a browser: a two-stage approval decided on the Approvals page.

leo asks for an item whose approval is mia (stage 1), then any member of team security
(stage 2). While stage 1 waits, sam of security has nothing in his inbox; mia has the
request there and approves it with a comment. Only then does sam see it (a user who is
no approver, eve, still sees nothing); he rejects it with a comment. The request's page
shows status ``rejected`` and, per stage, who decided what with their comments.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pao_common.settings import Settings

from tests.portal.test_portal_browser import _need_chromium, _sign_in
from tests.support.browser import Page, browser_page
from tests.support.platform import Platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITEM = """
schemaVersion: "2.0"
metadata: {id: portal-staged, name: Portal staged, version: 1.0.0, owner: platform,
           category: debug, description: An item approved by mia and then by security}
presentation:
  fields:
    - {id: reason, type: string, label: Reason, required: true}
approval:
  required: true
  stages:
    - {name: lead, approvers: {users: [mia]}, expires_after: 24h}
    - {name: security, approvers: {teams: [security]}, rule: any, expires_after: 8h}
fulfillment:
  mode: automated
  automated:
    steps:
      - {id: echo, name: Echo, action: debug.log, with: {message: "{{ inputs.reason }}"}}
examples:
  - {name: one, user: {id: leo, teams: [payments]}, inputs: {reason: look at a query}}
"""

NOTHING = "Nothing awaits your approval."


@pytest.fixture
def platform(settings: Settings, tmp_path: Path) -> Iterator[Platform]:
    platform = Platform(settings=settings, log_dir=tmp_path, with_gateway=True)
    (platform.settings.catalog_dir / "portal-staged.yaml").write_text(ITEM)
    try:
        yield platform.start()
    finally:
        platform.stop()


async def _request(platform: Platform, request_id: str) -> dict[str, Any]:
    assert platform.gateway is not None
    headers = {"Authorization": f"Bearer {platform.token('leo', ('payments',))}"}
    async with httpx.AsyncClient(timeout=30) as client:
        url = f"{platform.gateway.url}/api/v1/requests/{request_id}"
        r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()
    return view


async def _until_stage(platform: Platform, request_id: str, stage: int) -> None:
    """Wait until the request awaits approval at ``stage`` (0-based); the deadline only
    stops a hung test."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = await _request(platform, request_id)
        approval = view.get("approval") or {}
        if view["status"] == "awaiting_approval" and approval.get("stage") == stage:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} never reached approval stage {stage}: {view}")


async def _inbox_as(page: Page, portal: str, user: str, teams: str) -> str:
    """Sign in afresh as ``user`` on the Approvals page; the page's text once loaded."""
    await page.evaluate("localStorage.removeItem('pao.token'); true")
    await page.goto(portal + "#/approvals")
    await _sign_in(page, user, teams)
    text: str = await page.wait_for(
        "(t => (t.includes('Nothing awaits') || !!document.querySelector('#view table')) && t)"
        "(document.getElementById('view').innerText)"
    )
    return text


async def _decide(page: Page, request_id: str, verb: str, comment: str) -> None:
    """Type a comment in the request's inbox row and press Approve or Reject."""
    button = "Approve" if verb == "approve" else "Reject"
    clicked = await page.evaluate(
        "(() => { const row = [...document.querySelectorAll('#view tr')].find(tr =>"
        f" tr.querySelector('a[href=\"#/requests/{request_id}\"]'));"
        " if (!row) return false;"
        f" row.querySelector('input').value = {json.dumps(comment)};"
        " [...row.querySelectorAll('button')]"
        f".find(b => b.textContent === {json.dumps(button)}).click(); return true; }})()"
    )
    assert clicked, f"no inbox row for {request_id}"
    # Once the gateway accepted the decision, the row says what was sent.
    sent = await page.wait_for(
        "(d => d && d.textContent)(document.querySelector('#view .decided'))"
    )
    assert sent == f"{'Approved' if verb == 'approve' else 'Rejected'} {json.dumps(comment)}"


async def test_two_stage_approval_is_decided_in_the_inbox(
    platform: Platform, tmp_path: Path
) -> None:
    _need_chromium()
    assert platform.gateway is not None
    portal = platform.gateway.url + "/portal/"
    headers = {"Authorization": f"Bearer {platform.token('leo', ('payments',))}"}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            platform.gateway.url + "/api/v1/requests",
            json={"item_id": "portal-staged", "inputs": {"reason": "look at a slow query"}},
            headers=headers,
        )
    assert r.status_code == 202, r.text
    request_id: str = r.json()["id"]
    await _until_stage(platform, request_id, 0)
    short = request_id[:8]

    async with browser_page() as page:
        # Stage 1 awaits mia: security has nothing yet.
        text = await _inbox_as(page, portal, "sam", "security")
        assert NOTHING in text and short not in text

        text = await _inbox_as(page, portal, "mia", "leads")
        assert short in text
        assert "portal-staged v1.0.0" in text and "leo" in text
        assert "1/2 lead (any)" in text
        await page.screenshot(tmp_path / "portal-approvals-stage1.png")
        await _decide(page, request_id, "approve", "fine for a week")
        await _until_stage(platform, request_id, 1)

        # Stage 2 awaits security; someone who approves nothing still sees nothing.
        text = await _inbox_as(page, portal, "eve", "web")
        assert NOTHING in text and short not in text

        text = await _inbox_as(page, portal, "sam", "security")
        assert short in text and "2/2 security (any)" in text
        await _decide(page, request_id, "reject", "no prod access without a ticket")

        await page.evaluate(f"location.hash = '#/requests/{request_id}'; true")
        status = await page.wait_for(
            "(s => s && s.textContent === 'rejected' && s.textContent)"
            "(document.querySelector('.card .status'))",
            timeout_s=60,
        )
        assert status == "rejected"
        text = await page.wait_for(
            "(t => t.includes('reject \"') && t)(document.getElementById('view').innerText)"
        )
        assert "Approval (2 of 2 stages begun)" in text
        assert 'mia: approve "fine for a week"' in text
        assert 'sam: reject "no prod access without a ticket"' in text
        await page.screenshot(tmp_path / "portal-approvals-rejected.png")
        assert page.errors == []

"""The change calendar in a browser: the item page names the change class, and a major
request submitted in a freeze shows ``scheduled`` with the window and its end."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pao_common.settings import Settings

from tests.portal.test_portal_browser import _need_chromium, _sign_in
from tests.support.browser import browser_page
from tests.support.platform import Platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITEM = """
schemaVersion: "2.0"
metadata: {id: portal-freeze, name: Portal freeze, version: 1.0.0, owner: platform,
           category: debug, description: A deployment the change calendar holds in prod}
presentation:
  fields:
    - {id: env, type: select, label: Environment, options: [dev, prod], default: dev}
change_class:
  rules:
    - {when: "inputs.env == 'prod'", class: major}
fulfillment:
  mode: automated
  automated:
    steps:
      - {id: echo, name: Echo, action: debug.log, with: {message: "{{ inputs.env }}"}}
examples:
  - {name: dev, user: {id: alice, teams: [platform]}, inputs: {env: dev}}
"""


@pytest.fixture
def platform(settings: Settings, tmp_path: Path) -> Iterator[Platform]:
    start = datetime.now(UTC) - timedelta(hours=1)
    end = datetime.now(UTC) + timedelta(hours=2)
    calendar = tmp_path / "change-calendar.yaml"
    calendar.write_text(
        textwrap.dedent(
            f"""\
            schemaVersion: "1.0"
            kind: ChangeCalendar
            version: portal
            timezone: UTC
            windows:
              - name: portal-freeze-window
                once: {{start: "{start:%Y-%m-%dT%H:%M}", end: "{end:%Y-%m-%dT%H:%M}"}}
                classes: [major]
                action: hold
            """
        )
    )
    env = {"PAO_CHANGE_CALENDAR": str(calendar)}
    platform = Platform(
        settings=settings,
        log_dir=tmp_path,
        with_gateway=True,
        orchestrator_env=env,
        gateway_env=env,
    )
    (platform.settings.catalog_dir / "portal-freeze.yaml").write_text(ITEM)
    try:
        yield platform.start()
    finally:
        platform.stop()


async def test_a_major_request_in_a_freeze_shows_scheduled_and_the_windows_end(
    platform: Platform, tmp_path: Path
) -> None:
    _need_chromium()
    assert platform.gateway is not None
    async with browser_page() as page:
        await page.goto(platform.gateway.url + "/portal/#/items/portal-freeze")
        await _sign_in(page, "alice", "platform")
        note = await page.wait_for(
            "(p => p && p.textContent.includes('change:') && p.textContent)"
            "(document.querySelector('p.muted'))"
        )
        assert "change: standard, major when inputs.env == 'prod'" in note
        await page.wait_for("!!document.querySelector('[data-field=env] select')")
        await page.evaluate(
            "const s = document.querySelector('[data-field=env] select');"
            "s.value = JSON.stringify('prod');"
            "s.dispatchEvent(new Event('change', {bubbles: true}));"
            "document.querySelector('form.card button[type=submit]').click(); true"
        )
        await page.wait_for("location.hash.startsWith('#/requests/')")
        status = await page.wait_for(
            "(s => s && s.textContent === 'scheduled' && s.textContent)"
            "(document.querySelector('.card .status'))",
            timeout_s=60,
        )
        assert status == "scheduled"
        text = await page.evaluate("document.body.innerText")
        assert "Change class: major · held by change window portal-freeze-window until" in text
        await page.screenshot(tmp_path / "portal-scheduled.png")
        assert page.errors == []

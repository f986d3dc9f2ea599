"""A person in a browser: sign in, fill the generated form, watch the request complete."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pao_common.settings import Settings

from tests.support.browser import Page, browser_page, chromium
from tests.support.platform import Platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# Two items of this test's own, added to the platform's catalog copy before it starts.
EXTRA_ITEMS = {
    "portal-conditions.yaml": """
schemaVersion: "2.0"
metadata: {id: portal-conditions, name: Portal conditions, version: 1.0.0, owner: platform,
           category: debug, description: Conditional fields for the portal test}
presentation:
  fields:
    - {id: env, type: select, label: Environment, options: [dev, prod], default: dev}
    - {id: note, type: string, label: Note, visible_if: {field: env, not_equals: prod}}
    - id: ticket
      type: string
      label: Ticket
      visible_if: {any: [{field: env, not_in: [dev]}, {field: env, equals: staging}]}
fulfillment:
  mode: automated
  automated:
    steps:
      - {id: echo, name: Echo, action: debug.log, with: {message: "{{ inputs.env }}"}}
examples:
  - {name: dev, user: {id: alice, teams: [platform]}, inputs: {env: dev, note: n}}
""",
    "portal-restricted.yaml": """
schemaVersion: "2.0"
metadata: {id: portal-restricted, name: Portal restricted, version: 1.0.0, owner: sre-team,
           category: debug, description: Only SREs may request this}
access: {roles: [sre]}
presentation:
  fields:
    - {id: message, type: string, label: Message, required: true}
fulfillment:
  mode: automated
  automated:
    steps:
      - {id: echo, name: Echo, action: debug.log, with: {message: "{{ inputs.message }}"}}
examples:
  - {name: sre, user: {id: sam, roles: [sre]}, inputs: {message: hi}}
""",
}


def _need_chromium() -> None:
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture
def platform(settings: Settings, tmp_path: Path) -> Iterator[Platform]:
    platform = Platform(settings=settings, log_dir=tmp_path, with_gateway=True)
    for name, text in EXTRA_ITEMS.items():
        (platform.settings.catalog_dir / name).write_text(text)
    try:
        yield platform.start()
    finally:
        platform.stop()


async def _sign_in(page: Page, user: str, teams: str) -> None:
    """Local development sign-in, as a person would do it in the dialog."""
    await page.wait_for("document.getElementById('signin').open")
    await page.wait_for("!document.getElementById('dev-signin').hidden")
    await page.evaluate(
        "const f = document.getElementById('signin-form').elements;"
        f"f.user.value = '{user}'; f.teams.value = '{teams}';"
        "document.querySelector('#signin-form button').click(); true"
    )
    await page.wait_for(f"document.getElementById('who').textContent.includes('{user}')")
    await page.wait_for("!document.getElementById('signin').open")


async def test_request_from_the_portal_completes(platform: Platform, tmp_path: Path) -> None:
    _need_chromium()
    assert platform.gateway is not None
    portal = platform.gateway.url + "/portal/"
    async with browser_page() as page:
        await page.goto(portal)
        await _sign_in(page, "alice", "platform")
        names = await page.wait_for(
            "[...document.querySelectorAll('.card h3 a')].map(a => a.textContent).join('|')"
        )
        assert "Debug echo" in names

        # Follow the catalog link, as a person would.
        await page.evaluate(
            "document.querySelector('a[href=\"#/items/debug-echo\"]').click(); true"
        )
        await page.wait_for("!!document.querySelector('[data-field=message] input, textarea')")
        await page.evaluate("new Promise(r => setTimeout(r, 1000)).then(() => true)")
        # Empty first: the server's validator answers under the field, nothing is submitted.
        await page.evaluate("document.querySelector('form.card button[type=submit]').click(); true")
        error = await page.wait_for(
            "document.querySelector('[data-field=message] .error').textContent"
        )
        assert "required" in error
        assert await page.evaluate("location.hash") == "#/items/debug-echo"
        await page.evaluate(
            "document.querySelector('[data-field=message] input, [data-field=message] textarea')"
            ".value = 'hello from a browser';"
            "document.querySelector('form.card button[type=submit]').click(); true"
        )
        await page.wait_for("location.hash.startsWith('#/requests/')")
        status = await page.wait_for(
            "(s => s && s.textContent === 'completed' && s.textContent)"
            "(document.querySelector('.card .status'))",
            timeout_s=60,
        )
        assert status == "completed"
        assert "hello from a browser" in await page.evaluate("document.body.innerText")
        await page.screenshot(tmp_path / "portal-request.png")
        assert page.errors == []


async def test_the_portal_marks_what_you_cannot_request_and_follows_conditions(
    platform: Platform, tmp_path: Path
) -> None:
    """Items alice may not request are marked and locked; not_equals / not_in / any hide
    and show their fields as the server decides; an old ticket link opens the request."""
    _need_chromium()
    assert platform.gateway is not None
    async with browser_page() as page:
        await page.goto(platform.gateway.url + "/portal/")
        await _sign_in(page, "alice", "platform")
        card = "document.querySelector('a[href=\"#/items/{}\"]').closest('.card')"
        note = await page.wait_for(card.format("portal-restricted") + ".textContent")
        assert "You cannot request this" in note and "roles sre" in note and "sre-team" in note
        assert await page.evaluate(
            card.format("portal-restricted") + ".classList.contains('locked')"
        )
        assert not await page.evaluate(card.format("debug-echo") + ".classList.contains('locked')")

        await page.evaluate("location.hash = '#/items/portal-restricted'; true")
        await page.wait_for("!!document.querySelector('[data-field=message] input')")
        assert await page.evaluate(
            "document.querySelector('form.card button[type=submit]').disabled"
        )

        await page.evaluate("location.hash = '#/items/portal-conditions'; true")
        await page.wait_for("!!document.querySelector('[data-field=env] select')")
        hidden = "document.querySelector('[data-field={}]').hidden"
        # env defaults to dev: note (not_equals prod) shows, ticket (not_in [dev] or ...) hides
        assert await page.evaluate(hidden.format("note")) is False
        assert await page.evaluate(hidden.format("ticket")) is True
        await page.evaluate(
            "const s = document.querySelector('[data-field=env] select');"
            "s.value = JSON.stringify('prod'); s.dispatchEvent(new Event('change')); true"
        )
        assert await page.evaluate(hidden.format("note")) is True
        assert await page.evaluate(hidden.format("ticket")) is False

        # A link as JIRA tickets written before request.url carry it.
        await page.goto(platform.gateway.url + "/requests/0b6f7c1e-2f44-4c59-9d7e")
        assert await page.wait_for("location.pathname") == "/portal/"
        assert await page.wait_for("location.hash") == "#/requests/0b6f7c1e-2f44-4c59-9d7e"
        await page.wait_for("document.querySelector('h1, .card.error') !== null")
        await page.screenshot(tmp_path / "portal-marks.png")
        assert page.errors == []

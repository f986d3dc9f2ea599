"""A person in a browser: sign in, fill the generated form, watch the request complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.browser import browser_page, chromium
from tests.support.platform import Platform

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def platform(settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    platform = Platform(settings=settings, log_dir=tmp_path, with_gateway=True)
    try:
        yield platform.start()
    finally:
        platform.stop()


async def test_request_from_the_portal_completes(platform: Platform, tmp_path: Path) -> None:
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    assert platform.gateway is not None
    portal = platform.gateway.url + "/portal/"
    async with browser_page() as page:
        await page.goto(portal)
        await page.wait_for("document.getElementById('signin').open")
        # Local development sign-in, as a person would do it in the dialog.
        await page.wait_for("!document.getElementById('dev-signin').hidden")
        await page.evaluate(
            "const f = document.getElementById('signin-form').elements;"
            "f.user.value = 'alice'; f.teams.value = 'platform';"
            "document.querySelector('#signin-form button').click(); true"
        )
        await page.wait_for("document.getElementById('who').textContent.includes('alice')")
        await page.wait_for("!document.getElementById('signin').open")
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

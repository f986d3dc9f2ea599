"""The portal's Insights page in a real browser (Debian's chromium): the lead-time report
of a seeded history drawn with the bundled Chart.js, nothing fetched from elsewhere."""

from __future__ import annotations

import json
import os

import asyncpg
import pytest

from tests.gateway.conftest import Issuer, RunningGateway
from tests.gateway.test_lead_time_report import _seed
from tests.support.browser import browser_page, chromium

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_insights_page_draws_the_report(
    gateway: RunningGateway, db_pool: asyncpg.Pool, issuer: Issuer
) -> None:
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    ids = await _seed(db_pool)
    token = issuer.token("pat", teams=("payments",))
    portal = gateway.url + "/portal/"
    async with browser_page() as page:
        await page.call("Network.enable")
        await page.goto(portal)
        await page.evaluate(f"localStorage.setItem('pao.token', '{token}'); true")
        await page.goto(portal + "#/insights?since=2026-01-05&until=2026-01-19")
        row = f"#insights-table tr[data-item='{ids['db']}']"
        saved = await page.wait_for(f'document.querySelector("{row} .saved")?.textContent')
        assert saved == "99.1%"  # p50 3 h against a 14 d baseline
        # The three charts are Chart.js charts over the report's figures.
        drawn = await page.wait_for(
            "['insights-lead-time', 'insights-modes', 'insights-outcomes']"
            ".map(id => Chart.getChart(id)).every(c => c && c.data.datasets.length) && true"
        )
        assert drawn is True
        lead = await page.evaluate(
            "JSON.stringify(Chart.getChart('insights-lead-time').data.datasets"
            f".find(d => d.label === 'Test item {ids['db']}').data.filter(v => v !== null))"
        )
        assert lead == "[2,48]"  # hours: the two weeks' p50
        modes = await page.evaluate(
            "JSON.stringify(Chart.getChart('insights-modes').data.datasets.map(d => d.label))"
        )
        assert modes == '["automated","manual","fallback"]'
        # Only the gateway served the page: no CDN, no other origin.
        scripts = await page.evaluate(
            "JSON.stringify([...document.scripts].map(s => new URL(s.src).origin))"
        )
        assert set(json.loads(scripts)) == {gateway.url}
        assert not page.errors

"""A link to a request (a JIRA ticket's "PAO request: ...") opens that request in the portal.

The portal routes by fragment (``#/requests/<id>``); the link templates write is
``request.url`` (``pao_common.portal_links``), and the gateway redirects the older
``/requests/<id>`` form, which tickets already written carry, to the same page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pao_catalog_model.loader import parse_yaml
from pao_catalog_model.model import parse_item
from pao_catalog_model.preview import PREVIEW_REQUEST, PREVIEW_SYSTEM, preview
from pao_common.portal_links import request_url
from pao_common.settings import Profile, Settings
from pao_common.templating import build_context, render
from pao_gateway.app import create_app

from tests.portal.nodejs import PORTAL

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
DOCUMENTS = sorted(CATALOG.glob("*.yaml"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def test_request_url_is_the_portals_route() -> None:
    assert request_url("https://pao.example.com", "r-1") == (
        "https://pao.example.com/portal/#/requests/r-1"
    )
    assert request_url("https://pao.example.com/", "r-1") == request_url(
        "https://pao.example.com/portal/", "r-1"
    )
    assert request_url("http://h", "a/b c").endswith("#/requests/a%2Fb%20c")
    script = (PORTAL / "portal.js").read_text()
    assert 'page === "requests" && id' in script and "decodeURIComponent(id)" in script


def test_templates_get_request_url() -> None:
    context = build_context(request={"id": "r-9"}, system={"portal_url": "https://pao.example.com"})
    assert render("{{ request.url }}", context) == "https://pao.example.com/portal/#/requests/r-9"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_link_the_shipped_catalog_writes_opens_the_request(path: Path) -> None:
    item = parse_item(parse_yaml(path.read_bytes())[0])
    wanted = request_url(PREVIEW_SYSTEM["portal_url"], PREVIEW_REQUEST["id"])
    for example in item.examples:
        plan = preview(item, example.inputs, example.user).plan
        text = "\n".join(_strings(json.loads(json.dumps(plan, default=str))))
        links = re.findall(r"https?://\S*" + re.escape(PREVIEW_REQUEST["id"]), text)
        assert all(link == wanted for link in links), (example.name, links)
        assert links or "/requests/" not in text, (example.name, text)


async def test_the_gateway_redirects_old_links_to_the_portal(tmp_path: Path) -> None:
    settings = Settings(profile=Profile.TEST, jwt_dev_key_dir=tmp_path / "dev-jwt")
    transport = httpx.ASGITransport(app=create_app(settings))  # no lifespan: no connections
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        old = await client.get("/requests/0b6f7c1e-2f44-4c59-9d7e-1c3a5b9f0e21")
        assert old.status_code in (302, 307), old.text
        location = old.headers["location"]
        assert location == "/portal/#/requests/0b6f7c1e-2f44-4c59-9d7e-1c3a5b9f0e21"
        page = await client.get(location.split("#")[0])
        assert page.status_code == 200 and 'src="portal.js"' in page.text
        assert (await client.get("/requests/x/y")).status_code == 404

"""The portal's page and files are served, and local development sign-in works only locally."""

from __future__ import annotations

from pathlib import Path

import httpx
from pao_common.settings import Profile, Settings
from pao_gateway.app import create_app
from pao_gateway.identity import build_verifier


def _client(settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings))  # no lifespan: no connections
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


async def test_portal_page_and_its_files_are_served(tmp_path: Path) -> None:
    settings = Settings(profile=Profile.TEST, jwt_dev_key_dir=tmp_path / "dev-jwt")
    async with _client(settings) as client:
        home = await client.get("/")
        assert home.status_code == 307 and home.headers["location"] == "/portal/"
        page = await client.get("/portal/")
        assert page.status_code == 200 and 'src="portal.js"' in page.text
        script = await client.get("/portal/portal.js")
        assert script.status_code == 200
        for path in ("/catalog/items", "/validate", "/requests", "/stream", "/dev/token"):
            assert path in script.text, f"the portal uses {path}"
        assert (await client.get("/portal/portal.css")).status_code == 200
        assert 'src="conditions.js"' in page.text
        conditions = await client.get("/portal/conditions.js")
        assert conditions.status_code == 200 and "conditionHolds" in conditions.text


async def test_dev_sign_in_mints_a_token_the_gateway_trusts(tmp_path: Path) -> None:
    settings = Settings(profile=Profile.TEST, jwt_dev_key_dir=tmp_path / "dev-jwt")
    async with _client(settings) as client:
        assert (await client.get("/api/v1/dev/token")).json() == {"enabled": True}
        minted = await client.post(
            "/api/v1/dev/token", json={"user": "alice", "teams": ["platform"], "roles": []}
        )
        assert minted.status_code == 200
        bad = await client.post("/api/v1/dev/token", json={"user": "alice bob; drop"})
        assert bad.status_code == 422
    user = await build_verifier(settings).verify(minted.json()["token"])
    assert user.id == "alice" and list(user.teams) == ["platform"]


async def test_no_dev_sign_in_when_a_real_issuer_is_configured(tmp_path: Path) -> None:
    key = tmp_path / "issuer.pem"
    from pao_gateway.devtokens import DevKey

    key.write_bytes(DevKey.load_or_create(tmp_path / "other").public_pem)
    settings = Settings(profile=Profile.LOCAL, jwt_public_key_file=key)
    async with _client(settings) as client:
        assert (await client.get("/api/v1/dev/token")).status_code == 404
        assert (await client.post("/api/v1/dev/token", json={"user": "x"})).status_code == 404
        assert (await client.get("/portal/")).status_code == 200

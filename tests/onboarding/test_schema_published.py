"""The Schema v2.0 JSON Schema at a stable path: the catalog service and ``pao catalog schema``.

Editors fetch it through the ``# yaml-language-server: $schema=...`` line, so it must be
exactly the schema the loader validates with.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from fastapi import FastAPI
from pao_catalog.app import create_app
from pao_catalog.schema_api import build_schema_router
from pao_catalog_model.schema import document_schema, schema_path
from pao_common.settings import Profile, Settings

from tests.onboarding.support import pao

SCHEMA_FILE = (
    Path(__file__).resolve().parents[2]
    / "libs/pao_catalog_model/pao_catalog_model/schema/catalog-v2.0.schema.json"
)


async def test_served_byte_for_byte_at_its_id_path() -> None:
    app = FastAPI()
    app.include_router(build_schema_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
        answer = await client.get("/schemas/catalog-v2.0.schema.json")
        missing = await client.get("/schemas/catalog-v9.schema.json")
        escape = await client.get("/schemas/..%2Fschema.py")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/schema+json")
    assert answer.content == SCHEMA_FILE.read_bytes()
    schema = answer.json()
    assert schema["$id"].endswith(schema_path("2.0"))
    assert missing.status_code == 404
    assert "catalog-v2.0.schema.json" in missing.json()["detail"]
    assert escape.status_code == 404


def test_the_catalog_service_wires_the_route() -> None:
    app = create_app(Settings(profile=Profile.TEST))
    assert "/schemas/{name}" in app.openapi()["paths"]


def test_pao_catalog_schema_prints_and_writes_it(tmp_path: Path) -> None:
    printed = pao("catalog", "schema")
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == document_schema("2.0")
    target = tmp_path / "catalog-v2.0.schema.json"
    written = pao("catalog", "schema", "--output", str(target))
    assert written.exit_code == 0
    assert json.loads(target.read_text()) == json.loads(SCHEMA_FILE.read_text())

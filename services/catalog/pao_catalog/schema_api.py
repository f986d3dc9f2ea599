"""The published JSON Schema of catalog documents, served at a stable path.

``GET /schemas/catalog-v2.0.schema.json`` answers the file the loader validates with,
byte for byte, so an editor pointed at it (the ``# yaml-language-server: $schema=...``
line that ``pao catalog new`` writes) completes and checks exactly what the catalog
accepts. The path matches the path of the schema's ``$id``.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from pao_catalog_model.schema import (
    SCHEMAS_PATH,
    SUPPORTED_SCHEMA_VERSIONS,
    schema_file_bytes,
    schema_file_name,
)

MEDIA_TYPE = "application/schema+json"


def build_schema_router() -> APIRouter:
    router = APIRouter(prefix=SCHEMAS_PATH, tags=["schema"])

    @router.get("/{name}", summary="The JSON Schema of catalog documents (for editors and CI)")
    async def get_schema(name: str) -> Response:
        body = schema_file_bytes(name)
        if body is None:
            names = ", ".join(schema_file_name(v) for v in SUPPORTED_SCHEMA_VERSIONS)
            raise HTTPException(404, f"no schema {name!r} (this catalog serves {names})")
        return Response(
            content=body,
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return router

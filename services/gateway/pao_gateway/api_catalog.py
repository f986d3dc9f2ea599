"""``/api/v1/catalog/...``: the catalog service's browse API, re-exposed with a cache."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response

from pao_gateway.catalog_items import check_access
from pao_gateway.catalog_proxy import LIST_SCOPE, CatalogAnswer
from pao_gateway.errors import InvalidSubmission
from pao_gateway.http import CurrentUser, gateway
from pao_gateway.schemas import API

router = APIRouter(prefix=f"{API}/catalog", tags=["catalog"])


def _response(answer: CatalogAnswer) -> Response:
    return Response(
        content=answer.body,
        status_code=answer.status_code,
        media_type=answer.content_type,
        headers={"x-pao-cache": "hit" if answer.cached else "miss"},
    )


@router.get("/items", summary="List catalog items (filters: category, tag, owner, q; paginated)")
async def list_items(request: Request, user: CurrentUser) -> Response:
    params = list(request.query_params.multi_items())
    answer = await gateway(request).catalog.get(request.url.path, params, scope=LIST_SCOPE)
    return _response(answer)


@router.get("/items/{item_id}", summary="A catalog item: latest, or ?version=")
async def get_item(item_id: str, request: Request, user: CurrentUser) -> Response:
    params = list(request.query_params.multi_items())
    return _response(await gateway(request).catalog.get(request.url.path, params, scope=item_id))


@router.get("/items/{item_id}/versions", summary="Every version of a catalog item")
async def item_versions(item_id: str, request: Request, user: CurrentUser) -> Response:
    params = list(request.query_params.multi_items())
    return _response(await gateway(request).catalog.get(request.url.path, params, scope=item_id))


@router.get("/items/{item_id}/form", summary="The request form: {schema, uiSchema, version}")
async def item_form(item_id: str, request: Request, user: CurrentUser) -> Response:
    params = list(request.query_params.multi_items())
    return _response(await gateway(request).catalog.get(request.url.path, params, scope=item_id))


@router.post(
    "/items/{item_id}/validate",
    summary="Validate inputs against the item's form (per-field errors); 403 without access",
)
async def validate(
    item_id: str,
    request: Request,
    user: CurrentUser,
    body: dict[str, Any] = Body(...),  # noqa: B008 - FastAPI's way to declare a body
) -> Response:
    component = gateway(request)
    try:
        pinned = await component.versions.resolve(item_id, request.query_params.get("version"))
    except InvalidSubmission:
        pinned = None  # unknown here: the catalog service gives its own answer
    if pinned is not None:
        check_access(user, pinned)
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return _response(await component.catalog.post(path, body))

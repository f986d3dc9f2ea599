"""``/api/v1/catalog/...``: the catalog service's browse API, re-exposed with a cache.

The list and an item's detail are shared by everyone in the cache; each answer is then
marked for the person asking (``can_request``, ``access_reason``): a catalog shows what
exists, and says what this person may request and, if not, who may.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from pao_gateway.catalog_items import check_access, mark_requestable
from pao_gateway.catalog_proxy import LIST_SCOPE, CatalogAnswer
from pao_gateway.errors import InvalidSubmission
from pao_gateway.http import CurrentUser, gateway
from pao_gateway.identity import User
from pao_gateway.schemas import API

router = APIRouter(prefix=f"{API}/catalog", tags=["catalog"])


def _headers(answer: CatalogAnswer) -> dict[str, str]:
    return {"x-pao-cache": "hit" if answer.cached else "miss"}


def _response(answer: CatalogAnswer) -> Response:
    return Response(
        content=answer.body,
        status_code=answer.status_code,
        media_type=answer.content_type,
        headers=_headers(answer),
    )


def _marked(answer: CatalogAnswer, user: User, *, listing: bool) -> Response:
    """``answer`` with each item marked for ``user`` (errors pass through untouched)."""
    if answer.status_code != 200 or "json" not in answer.content_type:
        return _response(answer)
    body = answer.json()
    if listing and isinstance(body, dict) and isinstance(body.get("items"), list):
        body["items"] = [
            mark_requestable(user, i) if isinstance(i, dict) else i for i in body["items"]
        ]
    elif not listing and isinstance(body, dict):
        body = mark_requestable(user, body)
    return JSONResponse(body, headers=_headers(answer))


@router.get(
    "/items",
    summary="List catalog items (filters: category, tag, owner, q; paginated); each says"
    " whether you may request it (can_request, access_reason)",
)
async def list_items(request: Request, user: CurrentUser) -> Response:
    params = list(request.query_params.multi_items())
    answer = await gateway(request).catalog.get(request.url.path, params, scope=LIST_SCOPE)
    return _marked(answer, user, listing=True)


@router.get("/items/{item_id}", summary="A catalog item: latest, or ?version=")
async def get_item(item_id: str, request: Request, user: CurrentUser) -> Response:
    params = list(request.query_params.multi_items())
    answer = await gateway(request).catalog.get(request.url.path, params, scope=item_id)
    return _marked(answer, user, listing=False)


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

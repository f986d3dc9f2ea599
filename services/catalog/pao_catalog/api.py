"""The browse API: ``/api/v1/catalog``. The gateway re-exposes the same paths.

Routes read the current ``CatalogIndex`` snapshot and answer with the JSON bytes it
has ready; nothing here touches the database. Only ``validate`` computes per request.

- ``GET  /items``                      filter (category, tag, owner, q) and page (limit with
  offset or cursor); retired items only with ``include_retired=true``
- ``GET  /items/{id}``                 the latest version, or ``?version=``
- ``GET  /items/{id}/versions``        every recorded version, newest first
  (these two are the contract the orchestrator and the gateway read item versions
  through, ``pao_common.catalog_api``: an item or version this replica has not loaded
  yet is looked up in the shared version history before it is a 404)
- ``GET  /items/{id}/form``            ``{schema, uiSchema, version}``, ``?version=`` too
- ``POST /items/{id}/validate``        ``{"inputs": {...}}`` -> ``{valid, errors: [...]}``,
  each error ``{field, message}``
- ``GET  /items/{id}/operations/{op}/form``      the form of a day-2 operation (``?version=``;
  the gateway pre-fills it from a resource with ``forms.operation_form``)
- ``POST /items/{id}/operations/{op}/validate``  ``{"inputs", "resource_inputs"?}`` -> as
  ``validate``; 404 for an operation the item does not declare
- ``GET  /errors``                     documents refused at the last (re)load, and why
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, HTTPException, Query, Response
from pao_catalog_model.errors import OperationNotFound
from pao_catalog_model.forms import (
    apply_defaults,
    operation_form,
    operation_inputs,
    validate_inputs,
    validate_operation_inputs,
)

from pao_catalog import reads
from pao_catalog.index import CatalogIndex, ItemEntry, dumps
from pao_catalog.ingest import RefusedDocument
from pao_catalog.reads import MAX_LIMIT

PREFIX = "/api/v1/catalog"
JSON = "application/json"


class CatalogView(Protocol):
    """What the API reads: the current index and the current load errors."""

    @property
    def index(self) -> CatalogIndex:
        """The snapshot to answer from (swapped whole after every reload)."""
        ...

    def refused(self) -> list[RefusedDocument]:
        """Documents not served as they are on disk, each with its errors."""
        ...

    async def recorded(self, item_id: str) -> ItemEntry | None:
        """The item as the shared version history records it (other replicas' versions
        too); None when it records none."""
        ...


def _json(body: bytes, status_code: int = 200) -> Response:
    return Response(content=body, status_code=status_code, media_type=JSON)


VersionParam = Annotated[
    str | None, Query(description="An exact recorded version; the latest when absent")
]


async def _recorded(
    view: CatalogView, item_id: str, version: str | None, missed: HTTPException
) -> CatalogIndex:
    """An index of the one item from the shared history, when it has what ``view.index``
    missed (another replica recorded it); else the 404 the index gave."""
    if missed.status_code != 404:
        raise missed
    entry = await view.recorded(item_id)
    if entry is None or (version is not None and version not in entry.versions):
        raise missed
    return CatalogIndex({item_id: entry})


async def _item_detail(view: CatalogView, item_id: str, version: str | None) -> bytes:
    try:
        return reads.item_detail(view.index, item_id, version)
    except HTTPException as exc:
        index = await _recorded(view, item_id, version, exc)
    return reads.item_detail(index, item_id, version)


async def _item_versions(view: CatalogView, item_id: str) -> bytes:
    try:
        return reads.item_versions(view.index, item_id)
    except HTTPException as exc:
        index = await _recorded(view, item_id, None, exc)
    return reads.item_versions(index, item_id)


def build_router(view: CatalogView) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["catalog"])

    @router.get("/items", summary="List catalog items")
    async def list_items(
        category: str | None = None,
        tag: Annotated[list[str] | None, Query(description="Repeat for all of several")] = None,
        owner: str | None = None,
        q: Annotated[str | None, Query(description="Words to find in id, name, ...")] = None,
        include_retired: bool = False,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        cursor: Annotated[str | None, Query(description="next_cursor of the page before")] = None,
    ) -> Response:
        body = reads.item_list(
            view.index,
            category=category,
            tags=tag or (),
            owner=owner,
            q=q,
            include_retired=include_retired,
            limit=limit,
            offset=offset,
            cursor=cursor,
        )
        return _json(body)

    @router.get("/items/{item_id}", summary="One catalog item")
    async def get_item(item_id: str, version: VersionParam = None) -> Response:
        return _json(await _item_detail(view, item_id, version))

    @router.get("/items/{item_id}/versions", summary="Every recorded version of an item")
    async def get_versions(item_id: str) -> Response:
        return _json(await _item_versions(view, item_id))

    @router.get("/items/{item_id}/form", summary="The request form: {schema, uiSchema, version}")
    async def get_form(item_id: str, version: VersionParam = None) -> Response:
        return _json(reads.item_form(view.index, item_id, version))

    @router.post("/items/{item_id}/validate", summary="Check inputs against the item's form")
    async def validate(
        item_id: str,
        inputs: Annotated[dict[str, Any], Body(embed=True)],
        version: VersionParam = None,
    ) -> Response:
        entry = reads.find_version(view.index, item_id, version)
        item = entry.parsed.item
        problems = validate_inputs(item, inputs)
        body: dict[str, Any] = {
            "valid": not problems,
            "errors": [{"field": p.field, "message": p.message} for p in problems],
            "item_id": item_id,
            "version": entry.version,
        }
        if not problems:
            body["inputs"] = apply_defaults(item, inputs)
        return _json(dumps(body))

    @router.get(
        "/items/{item_id}/operations/{operation_id}/form",
        summary="The form of a day-2 operation on the item's resources",
    )
    async def get_operation_form(
        item_id: str, operation_id: str, version: VersionParam = None
    ) -> Response:
        item = reads.find_version(view.index, item_id, version).parsed.item
        try:
            return _json(dumps(operation_form(item, operation_id)))
        except OperationNotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @router.post(
        "/items/{item_id}/operations/{operation_id}/validate",
        summary="Check inputs against a day-2 operation's form",
    )
    async def validate_operation(
        item_id: str,
        operation_id: str,
        inputs: Annotated[dict[str, Any], Body()],
        resource_inputs: Annotated[dict[str, Any] | None, Body()] = None,
        version: VersionParam = None,
    ) -> Response:
        entry = reads.find_version(view.index, item_id, version)
        item = entry.parsed.item
        try:
            problems = validate_operation_inputs(item, operation_id, inputs, resource_inputs)
        except OperationNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        body: dict[str, Any] = {
            "valid": not problems,
            "errors": [{"field": p.field, "message": p.message} for p in problems],
            "item_id": item_id,
            "operation": operation_id,
            "version": entry.version,
        }
        if not problems:
            body["inputs"] = operation_inputs(item, operation_id, inputs, resource_inputs)
        return _json(dumps(body))

    @router.get("/errors", summary="Documents refused at the last (re)load, and why")
    async def get_errors() -> Response:
        refused = view.refused()
        body = {
            "count": sum(len(r.errors) for r in refused),
            "errors": [e.as_dict() for r in refused for e in r.errors],
            "documents": [
                {
                    "file": r.file,
                    "item_id": r.item_id,
                    "serving_version": r.serving_version,
                    "errors": [e.as_dict() for e in r.errors],
                }
                for r in refused
            ],
        }
        return _json(dumps(body))

    return router

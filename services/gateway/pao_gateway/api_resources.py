"""``/api/v1/resources``: what PAO provisioned, who owns it, and its day-2 operations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from pao_gateway.http import CurrentUser, gateway
from pao_gateway.resource_reads import Cursor, ResourceFilter
from pao_gateway.resource_service import decommission_note
from pao_gateway.schemas import (
    API,
    ErrorOut,
    OperationOut,
    OperationUnavailable,
    ResourceOperations,
    ResourceOut,
    ResourcePage,
)

router = APIRouter(prefix=f"{API}/resources", tags=["resources"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No or invalid bearer token"},
    404: {"model": ErrorOut, "description": "No such resource (or not visible to you)"},
}


@router.get(
    "",
    response_model=ResourcePage,
    responses={422: {"model": ErrorOut, "description": "Invalid cursor or filter"}},
    summary="Resources of your teams (all of them for platform admins), newest first",
)
async def list_resources(
    request: Request,
    user: CurrentUser,
    team: Annotated[str | None, Query(description="The owner team")] = None,
    item: Annotated[str | None, Query(description="The catalog item id")] = None,
    status: Annotated[list[str] | None, Query(description="Repeat for several")] = None,
    owner: Annotated[str | None, Query(description="The requester's user id")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="The next link's cursor")] = None,
) -> ResourcePage:
    filters = ResourceFilter(team=team, item_id=item, status=status, owner=owner)
    after = Cursor.decode(cursor) if cursor else None
    rows = await gateway(request).resources.page(user, filters, limit=limit + 1, after=after)
    next_url = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = Cursor(rows[-1]["created_at"], rows[-1]["resource_id"])
        next_url = str(request.url.include_query_params(cursor=last.encode(), limit=limit))
    return ResourcePage(items=[ResourceOut.from_row(r) for r in rows], limit=limit, next=next_url)


@router.get("/{resource_id}", response_model=ResourceOut, responses=ERRORS)
async def get_resource(resource_id: str, request: Request, user: CurrentUser) -> ResourceOut:
    """Current state, inputs, outputs (secret references only) and the requests that
    touched it, oldest first."""
    return ResourceOut.from_row(await gateway(request).resources.visible(user, resource_id))


@router.get("/{resource_id}/operations", response_model=ResourceOperations, responses=ERRORS)
async def resource_operations(
    resource_id: str, request: Request, user: CurrentUser
) -> ResourceOperations:
    """The operations you may run on the resource now, each with its form (the fields it
    shares with the item pre-filled from the resource's inputs); the others with why not."""
    choice = await gateway(request).resources.operations(user, resource_id)
    return ResourceOperations(
        resource_id=resource_id,
        status=choice.row["status"],
        decommissionable=choice.item.decommissionable if choice.item else False,
        decommission_note=decommission_note(choice.item),
        reason=choice.reason,
        operations=[OperationOut.model_validate(o) for o in choice.allowed],
        unavailable=[OperationUnavailable.model_validate(u) for u in choice.unavailable],
    )

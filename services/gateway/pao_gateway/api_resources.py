"""``/api/v1/resources``: what PAO provisioned, who owns it, and its day-2 operations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from pao_gateway.http import CurrentUser, gateway
from pao_gateway.resource_reads import Cursor, ResourceFilter
from pao_gateway.resource_service import decommission_note
from pao_gateway.schemas import (
    API,
    Accepted,
    ErrorOut,
    Links,
    OperationBody,
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


@router.post(
    "/{resource_id}/operations/{operation}",
    status_code=202,
    response_model=Accepted,
    summary="Run one of the resource's operations: a request like any other",
    responses={
        **ERRORS,
        403: {"model": ErrorOut, "description": "The operation's access excludes you"},
        404: {
            "model": ErrorOut,
            "description": "No such resource (or not visible to you), or no such operation",
        },
        409: {
            "model": ErrorOut,
            "description": "Decommissioned; busy with another request (running_request); or"
            " the Idempotency-Key was used with another body",
        },
        413: {"model": ErrorOut, "description": "Body larger than PAO_GATEWAY_MAX_BODY_BYTES"},
        422: {"model": ErrorOut, "description": "Invalid inputs or fields the operation lacks"},
        429: {"model": ErrorOut, "description": "Submitting too fast; see Retry-After"},
    },
)
async def run_operation(
    resource_id: str,
    operation: str,
    request: Request,
    response: Response,
    user: CurrentUser,
    body: OperationBody | None = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Same key and body: the same request; same key, other body: 409",
        ),
    ] = None,
) -> Accepted:
    """Its fields that are also the item's default to the resource's current values (the
    form of ``GET .../operations``). The request that results has approvals, status, a
    live stream and cancel as any other (``links``)."""
    outcome = await gateway(request).resources.run(
        user, resource_id, operation, body or OperationBody(), idempotency_key
    )
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"{API}/requests/{outcome.request_id}"
    return Accepted(id=outcome.request_id, status="submitted", links=Links.of(outcome.request_id))

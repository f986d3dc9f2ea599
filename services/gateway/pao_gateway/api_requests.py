"""``/api/v1/requests``: submit, read, follow live, cancel, approve, reject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from pao_gateway.http import CurrentUser, gateway
from pao_gateway.identity import User
from pao_gateway.live import request_stream
from pao_gateway.request_reads import RequestFilter
from pao_gateway.schemas import (
    API,
    Accepted,
    CancelBody,
    CommentBody,
    ErrorOut,
    EventLog,
    Links,
    NotificationOut,
    RequestOut,
    RequestPage,
    StoredEvent,
    SubmitBody,
)
from pao_gateway.stream_slots import SlotHoldingEventSource

router = APIRouter(prefix=f"{API}/requests", tags=["requests"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No or invalid bearer token"},
    403: {"model": ErrorOut, "description": "Not allowed"},
    404: {"model": ErrorOut, "description": "No such request (or not visible to you)"},
}


def _accepted(request_id: str, status: str, response: Response) -> Accepted:
    response.headers["Location"] = f"{API}/requests/{request_id}"
    return Accepted(id=request_id, status=status, links=Links.of(request_id))


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    summary="Submit a request for a catalog item",
    responses={
        **ERRORS,
        409: {"model": ErrorOut, "description": "Idempotency-Key reused with another body"},
        413: {"model": ErrorOut, "description": "Body larger than PAO_GATEWAY_MAX_BODY_BYTES"},
        422: {"model": ErrorOut, "description": "Invalid inputs, with per-field errors"},
        429: {"model": ErrorOut, "description": "Submitting too fast; see Retry-After"},
    },
)
async def submit(
    body: SubmitBody,
    request: Request,
    response: Response,
    user: CurrentUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Same key and body: the same request; same key, other body: 409",
        ),
    ] = None,
) -> Accepted:
    outcome = await gateway(request).requests.submit(user, body, idempotency_key)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _accepted(outcome.request_id, "submitted", response)


@router.get("", response_model=RequestPage, summary="Requests visible to you, newest first")
async def list_requests(
    request: Request,
    user: CurrentUser,
    status: Annotated[list[str] | None, Query(description="Repeat for several")] = None,
    item: str | None = None,
    requester: str | None = None,
    team: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RequestPage:
    filters = RequestFilter(status=status, item_id=item, requester_id=requester, team=team)
    rows = await gateway(request).requests.page(user, filters, limit=limit + 1, offset=offset)
    next_url = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return RequestPage(
        items=[RequestOut.from_row(r) for r in rows], limit=limit, offset=offset, next=next_url
    )


@router.get("/{request_id}", response_model=RequestOut, responses=ERRORS)
async def get_request(request_id: str, request: Request, user: CurrentUser) -> RequestOut:
    """Status, item and version, requester, steps, ticket, approval, outputs, timestamps,
    and what was sent to whom about it (``notifications``)."""
    row, notifications = await gateway(request).requests.detail(user, request_id)
    out = RequestOut.from_row(row)
    out.notifications = [NotificationOut.model_validate(n) for n in notifications]
    return out


@router.get("/{request_id}/events", response_model=EventLog, responses=ERRORS)
async def request_events(request_id: str, request: Request, user: CurrentUser) -> EventLog:
    """The stored event log of the request, oldest first."""
    events = await gateway(request).requests.events(user, request_id)
    return EventLog(request_id=request_id, events=[StoredEvent.model_validate(e) for e in events])


@router.get(
    "/{request_id}/stream",
    responses={
        **ERRORS,
        200: {"content": {"text/event-stream": {}}},
        429: {"model": ErrorOut, "description": "Too many live streams open; see Retry-After"},
    },
    summary="Server-sent events: `state`, then each `event`, then `end` at a terminal status",
)
async def stream(
    request_id: str,
    request: Request,
    user: CurrentUser,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
) -> SlotHoldingEventSource:
    component = gateway(request)
    await component.requests.visible(user, request_id)

    async def render(row: dict[str, Any]) -> dict[str, Any]:
        return RequestOut.from_row(row).model_dump(mode="json")

    events = request_stream(
        request_id,
        hub=component.live,
        reader=component.reader,
        render=render,
        poll_s=component.settings.gateway_sse_poll_s,
        last_event_id=last_event_id,
    )
    slot = await component.stream_slots.acquire(user.id)
    try:
        return SlotHoldingEventSource(events, ping=15, slot=slot)
    except BaseException:
        await slot.release()
        raise


@router.post("/{request_id}/cancel", status_code=202, response_model=Accepted, responses=ERRORS)
async def cancel(
    request_id: str,
    request: Request,
    response: Response,
    user: CurrentUser,
    body: CancelBody | None = None,
) -> Accepted:
    reason = body.reason if body else None
    row = await gateway(request).requests.cancel(user, request_id, reason)
    return _accepted(request_id, row["status"], response)


_DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": ErrorOut, "description": "Not awaiting approval"},
}


async def _decide(
    request: Request,
    response: Response,
    user: User,
    request_id: str,
    body: CommentBody | None,
    *,
    approve: bool,
) -> Accepted:
    comment = body.comment if body else None
    row = await gateway(request).requests.decide(user, request_id, approve=approve, comment=comment)
    return _accepted(request_id, row["status"], response)


@router.post(
    "/{request_id}/approve",
    status_code=202,
    response_model=Accepted,
    responses=_DECISION_RESPONSES,
)
async def approve(
    request_id: str,
    request: Request,
    response: Response,
    user: CurrentUser,
    body: CommentBody | None = None,
) -> Accepted:
    return await _decide(request, response, user, request_id, body, approve=True)


@router.post(
    "/{request_id}/reject",
    status_code=202,
    response_model=Accepted,
    responses=_DECISION_RESPONSES,
)
async def reject(
    request_id: str,
    request: Request,
    response: Response,
    user: CurrentUser,
    body: CommentBody | None = None,
) -> Accepted:
    return await _decide(request, response, user, request_id, body, approve=False)

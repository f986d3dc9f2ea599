"""``/api/v1/reports``: the lead-time (success) report (``pao_gateway.reports``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from pao_gateway.errors import FieldProblem, InvalidSubmission
from pao_gateway.http import CurrentUser, gateway
from pao_gateway.schemas import API, ErrorOut

router = APIRouter(prefix=f"{API}/reports", tags=["reports"])

DEFAULT_PERIOD = timedelta(days=30)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.get(
    "/lead-time",
    summary="Lead time per item and mode, against each item's baseline",
    description=(
        "Requests submitted in [since, until): counts by outcome, completed share, p50/p90"
        " lead time (submitted to completed), approval wait and fulfilment time, the"
        " automated / manual / fallback shares, and the reduction of the p50 lead time"
        " against the item's `metadata.baseline_lead_time`; plus a series per item by"
        " `bucket`. Platform admins see every item, others the items their teams own."
    ),
    responses={
        401: {"model": ErrorOut, "description": "No or invalid bearer token"},
        403: {"model": ErrorOut, "description": "Not a platform admin nor an item's owner"},
        422: {"model": ErrorOut, "description": "Invalid period"},
    },
)
async def lead_time(
    request: Request,
    user: CurrentUser,
    since: Annotated[
        datetime | None, Query(description="Start (date or date-time; UTC when no zone)")
    ] = None,
    until: Annotated[datetime | None, Query(description="End, exclusive; default now")] = None,
    item: Annotated[list[str] | None, Query(description="Only these items (repeat)")] = None,
    bucket: Annotated[Literal["day", "week", "month"], Query()] = "week",
) -> dict[str, Any]:
    end = _utc(until) if until else datetime.now(UTC)
    start = _utc(since) if since else end - DEFAULT_PERIOD
    if start >= end:
        raise InvalidSubmission(
            "invalid period",
            [FieldProblem("since", f"must be before until ({end.isoformat()})", "query")],
        )
    report = gateway(request).reports
    items = await report.visible_items(user, item)
    return await report.build(items, since=start, until=end, bucket=bucket)

"""``/api/v1/approvals``: the approver inbox (what awaits my decision), from the read model;
``/api/v1/requests/{id}/notifications``: what was sent to whom about a request.

Deciding stays on the request (``POST /api/v1/requests/{id}/approve|reject``), where the
gateway asks ``pao_common.approvals`` (403 not an approver of the current stage, 409
decided already) before it sends the command the orchestrator weighs with the same rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from pao_gateway.api_requests import ERRORS
from pao_gateway.http import CurrentUser, gateway
from pao_gateway.schemas import (
    API,
    ApprovalInbox,
    ApprovalInboxItem,
    NotificationList,
    NotificationOut,
    RequestOut,
    StageOut,
)

router = APIRouter(prefix=f"{API}/approvals", tags=["approvals"])
notifications_router = APIRouter(prefix=f"{API}/requests", tags=["requests"])


@router.get("", response_model=ApprovalInbox, responses=ERRORS)
async def inbox(request: Request, user: CurrentUser) -> ApprovalInbox:
    """Requests whose current approval stage awaits the caller, oldest first."""
    rows = await gateway(request).requests.awaiting(user)
    items = []
    for row in rows:
        out = RequestOut.from_row(row)
        approval = out.approval
        stage: StageOut | None = None
        if approval is not None and approval.stage < len(approval.stages):
            stage = approval.stages[approval.stage]
        items.append(
            ApprovalInboxItem(
                request=out,
                stage=stage,
                stage_number=(approval.stage if approval else 0) + 1,
                stage_count=approval.stage_count if approval else 1,
            )
        )
    return ApprovalInbox(items=items)


@notifications_router.get(
    "/{request_id}/notifications", response_model=NotificationList, responses=ERRORS
)
async def notifications(request_id: str, request: Request, user: CurrentUser) -> NotificationList:
    """E-mails and chat messages about the request: to whom, status, attempts, last error."""
    rows = await gateway(request).requests.notifications(user, request_id)
    return NotificationList(
        request_id=request_id, items=[NotificationOut.model_validate(r) for r in rows]
    )

"""The ``request_view`` projection: one row per request, a pure function of its state.

Because the row is computed from the folded state (never patched), the live row and
a row rebuilt from the log are equal by construction; ``rebuild`` recomputes them all.
"""

from __future__ import annotations

from typing import Any

from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.domain.state import RequestState
from pao_orchestrator.ports import EventStore


def view_row(state: RequestState) -> dict[str, Any]:
    """The ``request_view`` row of ``state`` (JSON-ready values, datetimes as datetimes)."""
    requester = state.requester
    approval = state.approval
    return {
        "request_id": state.request_id,
        "item_id": state.item_id,
        "item_version": state.item_version,
        "status": state.status,
        "requester_id": requester.id if requester else None,
        "requester_teams": list(requester.teams) if requester else [],
        "requester": requester.model_dump(mode="json") if requester else None,
        "inputs": state.inputs,
        "outputs": state.outputs,
        "steps": [
            {
                "id": s.id,
                "action_type": s.action_type,
                "status": s.status,
                "attempts": s.attempts,
                "outputs": s.outputs,
                "error": s.error,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
            }
            for s in state.steps
        ],
        "ticket": state.ticket.model_dump(mode="json") if state.ticket else None,
        "approval": (
            {
                "required": approval.required,
                "approver_teams": list(approval.approver_teams),
                "approver_users": list(approval.approver_users),
                "decided_by": approval.decided_by,
                "comment": approval.comment,
                "expires_at": approval.expires_at.isoformat() if approval.expires_at else None,
                "decision": approval.decision,
                "stage": approval.stage,
                "stage_count": approval.stage_count,
                "stages": [stage.model_dump(mode="json") for stage in approval.stages],
            }
            if approval
            else None
        ),
        "error": state.error,
        "idempotency_key": state.idempotency_key,
        "last_version": state.version,
        "submitted_at": state.submitted_at,
        "updated_at": state.updated_at,
        "completed_at": state.completed_at,
    }


async def rebuild(store: EventStore, batch: int = 500) -> int:
    """Drop the projection and recompute it from the event log; return the row count.

    The rows are replaced in one transaction, so readers never see a half-built table.
    """
    rows: list[dict[str, Any]] = []
    async for stream_id, events in store.streams(batch):
        state = reduce(events)
        if state.request_id == stream_id:  # a stream without RequestSubmitted has no row
            rows.append(view_row(state))
    await store.replace_views(rows, truncate=True)
    return len(rows)

"""The ``request_view`` and ``resource_view`` projections: one row per request (resource),
a pure function of its state.

Because the row is computed from the folded state (never patched), the live row and
a row rebuilt from the log are equal by construction; ``rebuild`` recomputes them all.
"""

from __future__ import annotations

from typing import Any

from pao_orchestrator.domain.evolve import reduce
from pao_orchestrator.domain.resource_state import ResourceState, reduce_resource
from pao_orchestrator.domain.state import TERMINAL, RequestState, StepState
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
        "steps": [step_view(state, s) for s in state.steps],
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
        "change": change_view(state),
        "idempotency_key": state.idempotency_key,
        "last_version": state.version,
        "submitted_at": state.submitted_at,
        "updated_at": state.updated_at,
        "completed_at": state.completed_at,
    }


def step_view(state: RequestState, step: StepState) -> dict[str, Any]:
    """One step of ``request_view.steps``. A step of an ended request that never started
    (its request was rejected, expired, cancelled, or ended before reaching it) reads
    ``skipped`` with ``skipped_reason`` saying why, never ``pending``: it will not run."""
    row: dict[str, Any] = {
        "id": step.id,
        "action_type": step.action_type,
        "status": step.status,
        "attempts": step.attempts,
        "outputs": step.outputs,
        "error": step.error,
        "started_at": step.started_at.isoformat() if step.started_at else None,
        "finished_at": step.finished_at.isoformat() if step.finished_at else None,
    }
    if step.status == "pending" and step.attempts == 0 and state.status in TERMINAL:
        row["status"] = "skipped"
        row["skipped_reason"] = f"not run: request {state.status}"
    return row


def change_view(state: RequestState) -> dict[str, Any]:
    """The request's change class and what the change calendar did (``request_view.change``)."""
    freeze = state.freeze
    out: dict[str, Any] = {"class": state.change_class}
    if state.emergency_reason:
        out["emergency_reason"] = state.emergency_reason
    if freeze is not None:
        out.update(
            window=freeze.window,
            action=freeze.action,
            until=freeze.until.isoformat() if freeze.until else None,
            calendar_version=freeze.calendar_version,
            released_at=freeze.released_at.isoformat() if freeze.released_at else None,
            overridden_by=freeze.overridden_by,
            override_reason=freeze.override_reason,
        )
    cr = state.change_request
    if cr is not None:
        out["change_request"] = {
            "system": cr.system,
            "number": cr.number,
            "sys_id": cr.sys_id,
            "url": cr.url,
            "phase": cr.phase,
            "approval": cr.approval,
            "decided_by": cr.decided_by,
            "decided_at": cr.decided_at.isoformat() if cr.decided_at else None,
            "comment": cr.comment,
            "attempts": cr.attempts,
            "last_error": cr.last_error,
            "retry_at": cr.retry_at.isoformat() if cr.retry_at else None,
            "opened_at": cr.opened_at.isoformat() if cr.opened_at else None,
            "closed_at": cr.closed_at.isoformat() if cr.closed_at else None,
            "close_state": cr.close_state,
            "close_code": cr.close_code,
        }
    return out


def resource_view_row(state: ResourceState) -> dict[str, Any]:
    """The ``resource_view`` row of ``state`` (JSON-ready values, datetimes as datetimes)."""
    return {
        "resource_id": state.resource_id,
        "item_id": state.item_id,
        "item_version": state.item_version,
        "name": state.name,
        "owner_team": state.owner_team,
        "requester_id": state.requester_id,
        "status": state.status,
        "inputs": state.inputs,
        "outputs": state.outputs,
        "requests": [
            {
                "request_id": r.request_id,
                "operation": r.operation,
                "status": r.status,
                "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
                "ended_at": r.ended_at.isoformat() if r.ended_at else None,
            }
            for r in state.requests
        ],
        "active_request_id": state.active_request_id,
        "active_operation": state.active_operation,
        "error": state.error,
        "last_version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "decommissioned_at": state.decommissioned_at,
    }


async def rebuild_resources(store: EventStore, batch: int = 500) -> int:
    """Drop ``resource_view`` and recompute it from the resource streams; return the count."""
    rows = [
        resource_view_row(reduce_resource(events))
        async for _, events in store.resource_streams(batch)
        if events
    ]
    await store.replace_resource_views(rows, truncate=True)
    return len(rows)


async def rebuild(store: EventStore, batch: int = 500) -> int:
    """Drop both projections and recompute them from the event log; return the request
    row count. Each table is replaced in one transaction, so readers never see a
    half-built table."""
    count = await rebuild_requests(store, batch)
    await rebuild_resources(store, batch)
    return count


async def rebuild_requests(store: EventStore, batch: int = 500) -> int:
    """Drop ``request_view`` and recompute it from the request streams; return the count."""
    rows: list[dict[str, Any]] = []
    async for stream_id, events in store.streams(batch):
        state = reduce(events)
        if state.request_id == stream_id:  # a stream without RequestSubmitted has no row
            rows.append(view_row(state))
    await store.replace_views(rows, truncate=True)
    return len(rows)

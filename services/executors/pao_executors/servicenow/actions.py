"""The ``servicenow`` actions: open and close the change request of a PAO request.

``servicenow.open_change`` (the orchestrator sends it where a ``normal``/``major``
request would start, when the change calendar's ``change_requests:`` asks for one)::

    short_description, description, type, risk, start_date, end_date, state,
    correlation_id (the request id), correlation_display (PAO), assignment_group, category
                                    -> {sys_id, number, url, approval, state, created}

It first looks for the request's change request (``correlation_display=PAO`` and
``correlation_id=<request id>``), so a retried command (the first answer lost, or
ServiceNow committing before answering 500) finds the record instead of opening another.

``servicenow.close_change`` (when the request ended)::

    sys_id (or found by correlation_id), state (3 closed / 4 canceled), close_code,
    close_notes                     -> {sys_id, number, state, close_code, found}

A change request already closed or canceled is left as it is; none at all answers
``found: false``. ServiceNow down (5xx, 429, timeouts, 401/403) is a retryable failure:
the orchestrator tries again until it answers; any other 4xx is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pao_catalog_model.action_inputs.servicenow import CloseChangeInputs, OpenChangeInputs
from pao_common.executor import ActionContext, Executor
from pao_common.servicenow import (
    CHANGE_FIELDS,
    CHANGE_TABLE,
    ENDED_STATES,
    TableApi,
    change_url,
    own_changes_query,
)


def build_executor(table: Callable[[], TableApi], instance_url: str) -> Executor:
    """The ``servicenow`` executor over the Table API client ``table()`` gives."""
    executor = Executor("servicenow", description="ServiceNow change requests")

    async def find_own(request_id: str) -> dict[str, Any] | None:
        found = await table().query(CHANGE_TABLE, own_changes_query(request_id), CHANGE_FIELDS, 5)
        return found[0] if found else None

    def described(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
        sys_id = str(record.get("sys_id") or "")
        return {
            "sys_id": sys_id,
            "number": record.get("number"),
            "url": change_url(instance_url, sys_id) if sys_id else None,
            "approval": record.get("approval"),
            "state": record.get("state"),
            **extra,
        }

    @executor.action("servicenow.open_change", inputs=OpenChangeInputs)
    async def open_change(inputs: OpenChangeInputs, ctx: ActionContext) -> dict[str, Any]:
        """Open the request's change request (once); outputs its number, sys_id and url."""
        existing = await find_own(inputs.correlation_id)
        if existing is not None:
            ctx.log.info("change request %s exists for this request", existing.get("number"))
            return described(existing, created=False)
        values = inputs.model_dump(exclude_none=True)
        await ctx.progress("opening a change request in ServiceNow", 30)
        record = await table().create(CHANGE_TABLE, values)
        ctx.log.info("opened change request %s", record.get("number"))
        return described(record, created=True)

    @executor.action("servicenow.close_change", inputs=CloseChangeInputs)
    async def close_change(inputs: CloseChangeInputs, ctx: ActionContext) -> dict[str, Any]:
        """Close (or cancel) the request's change request with its outcome."""
        record = await find_own(inputs.correlation_id)
        if record is None or (inputs.sys_id and record.get("sys_id") != inputs.sys_id):
            if inputs.sys_id is None:
                return {"found": False, "sys_id": None, "number": None, "state": None}
            record = {"sys_id": inputs.sys_id}
        sys_id = str(record["sys_id"])
        if str(record.get("state") or "") in ENDED_STATES:
            ctx.log.info("change request %s has ended already", record.get("number"))
            return {**described(record), "close_code": record.get("close_code"), "found": True}
        values: dict[str, Any] = {"state": inputs.state, "close_notes": inputs.close_notes}
        if inputs.close_code:
            values["close_code"] = inputs.close_code
        updated = await table().update(CHANGE_TABLE, sys_id, values)
        ctx.log.info("change request %s: state %s", updated.get("number"), updated.get("state"))
        return {**described(updated), "close_code": updated.get("close_code"), "found": True}

    return executor

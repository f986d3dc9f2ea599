"""The vocabulary of PAO's change requests in ServiceNow: the ``change_request`` table,
its state and risk choice numbers, the correlation mark PAO puts on its records, the
fields it reads back and how the Table API writes a date-time.

Pure data and one formatting function, no I/O: the orchestrator's domain decides with it
(``pao_orchestrator.domain.change_request_decide``), the executor and the gateway use it
through ``pao_common.servicenow`` (the Table API client), which re-exports it.
"""

from __future__ import annotations

from datetime import UTC, datetime

CHANGE_TABLE = "change_request"
CORRELATION_DISPLAY = "PAO"
# change_request.state choices (the default state model of a normal change)
STATE_NEW = "-5"
STATE_ASSESS = "-4"
STATE_AUTHORIZE = "-3"
STATE_SCHEDULED = "-2"
STATE_IMPLEMENT = "-1"
STATE_REVIEW = "0"
STATE_CLOSED = "3"
STATE_CANCELED = "4"
STATES = {
    STATE_NEW: "New",
    STATE_ASSESS: "Assess",
    STATE_AUTHORIZE: "Authorize",
    STATE_SCHEDULED: "Scheduled",
    STATE_IMPLEMENT: "Implement",
    STATE_REVIEW: "Review",
    STATE_CLOSED: "Closed",
    STATE_CANCELED: "Canceled",
}
ENDED_STATES = frozenset({STATE_CLOSED, STATE_CANCELED})
# change_request.risk choices; PAO's policy names them
RISKS = {"very_high": "1", "high": "2", "moderate": "3", "low": "4"}
APPROVALS = ("not requested", "requested", "approved", "rejected")
CLOSE_CODES = ("successful", "successful_issues", "unsuccessful")
# The fields PAO reads back from a change request.
CHANGE_FIELDS = (
    "sys_id",
    "number",
    "state",
    "approval",
    "correlation_id",
    "correlation_display",
    "close_code",
    "close_notes",
    "sys_updated_by",
    "sys_updated_on",
    "active",
)


def sn_datetime(moment: datetime) -> str:
    """``2026-09-15 10:00:00``: how the Table API takes a date-time (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

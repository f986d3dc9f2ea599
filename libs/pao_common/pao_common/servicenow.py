"""ServiceNow's Table API (``/api/now/table/{table}``) and PAO's change requests in it.

Used by the CMDB sync (configuration items), the ``servicenow`` executor (change
requests) and the gateway's ServiceNow webhook (which only reads a change request).

**The client.** Every call goes through the instance's circuit breaker. Answers are
sorted by what they mean for the caller: 2xx is the ``result``; 5xx, 429, 408, a
timeout or no connection mean ServiceNow is down (``ServiceNowUnavailable``, retried);
so do 401 and 403, which a rotated password or a fixed role cures without touching
the work; any other 4xx is ServiceNow refusing this call (``ServiceNowRefused``, with
its ``error.message``).

**PAO's change requests** (table ``change_request``). PAO marks every change request it
opens with ``correlation_display = PAO`` and ``correlation_id = <request id>``: the
pair makes opening idempotent (a retried command finds the record instead of opening
another) and maps a decided change back to its request (webhook and polling).
``approval`` moves ``requested -> approved | rejected``; ``change_decided`` reads a
record into the ``ChangeRequestDecided`` command whose message id derives from the
record's ``sys_id`` and the decision, so the webhook and the poller announcing the same
decision publish the same id and the orchestrator acts once. Field values are the
Table API's (strings; ``state`` and ``risk`` are choice numbers). That vocabulary (states,
risks, the correlation mark, ``sn_datetime``) is ``pao_common.servicenow_changes``, free of
I/O so the orchestrator's domain can use it; it is re-exported here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Mapping
from typing import Any

import httpx

from pao_common.errors import ServiceNowRefused, ServiceNowUnavailable
from pao_common.executor.breaker import CircuitBreaker
from pao_common.messages import ChangeRequestDecided
from pao_common.servicenow_changes import (
    APPROVALS,
    CHANGE_FIELDS,
    CHANGE_TABLE,
    CLOSE_CODES,
    CORRELATION_DISPLAY,
    ENDED_STATES,
    RISKS,
    STATE_ASSESS,
    STATE_AUTHORIZE,
    STATE_CANCELED,
    STATE_CLOSED,
    STATE_IMPLEMENT,
    STATE_NEW,
    STATE_REVIEW,
    STATE_SCHEDULED,
    STATES,
    sn_datetime,
)

TABLE = "/api/now/table/{table}"
_DOWN = frozenset({401, 403, 408, 429})

_NAMESPACE = uuid.UUID("0c3e6f5a-9d7b-4c1e-8a2f-5b6d7e8f9a01")


class SecretBasicAuth(httpx.Auth):
    """HTTP Basic with the password read from the secret on every request (rotation)."""

    def __init__(self, user: str, password: Callable[[], str]) -> None:
        self._user = user
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        basic = httpx.BasicAuth(self._user, self._password())
        yield from basic.auth_flow(request)


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        text = str(error.get("message") or "")
        if error.get("detail"):
            text += f" ({error['detail']})"
        return text or response.text[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


class TableApi:
    def __init__(self, client: httpx.AsyncClient, breaker: CircuitBreaker) -> None:
        self._client = client
        self._breaker = breaker

    async def find(self, table: str, field: str, value: str) -> list[dict[str, Any]]:
        """The records of ``table`` whose ``field`` is ``value``, oldest first."""
        return await self.query(
            table, f"{field}={value}^ORDERBYsys_created_on", ("sys_id", "install_status"), 10
        )

    async def query(
        self, table: str, query: str, fields: tuple[str, ...], limit: int
    ) -> list[dict[str, Any]]:
        """The records of ``table`` matching the encoded ``query`` (``a=1^b!=2``)."""
        result = await self._call(
            "GET",
            TABLE.format(table=table),
            params={
                "sysparm_query": query,
                "sysparm_fields": ",".join(fields),
                "sysparm_limit": str(limit),
            },
        )
        return list(result) if isinstance(result, list) else []

    async def create(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        result = await self._call("POST", TABLE.format(table=table), json=values)
        return dict(result)

    async def update(self, table: str, sys_id: str, values: dict[str, Any]) -> dict[str, Any]:
        result = await self._call("PATCH", f"{TABLE.format(table=table)}/{sys_id}", json=values)
        return dict(result)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._breaker:
            try:
                response = await self._client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise ServiceNowUnavailable(
                    f"ServiceNow {method} {path}: {type(exc).__name__}: {exc}"
                ) from exc
            status = response.status_code
            if status >= 500 or status in _DOWN:
                raise ServiceNowUnavailable(
                    f"ServiceNow {method} {path} answered HTTP {status}: {_error_message(response)}"
                )
            if status >= 400:
                raise ServiceNowRefused(
                    f"ServiceNow refused {method} {path} (HTTP {status}): "
                    f"{_error_message(response)}",
                    status,
                )
            try:
                return response.json()["result"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ServiceNowUnavailable(
                    f"ServiceNow {method} {path} answered HTTP {status} without a result"
                ) from exc


# --- PAO's change requests -----------------------------------------------------------------


def change_url(instance: str, sys_id: str) -> str:
    """The change request's form on the instance (what a person opens)."""
    return f"{instance.rstrip('/')}/change_request.do?sys_id={sys_id}"


def own_changes_query(request_id: str) -> str:
    """The encoded query of the change request PAO opened for ``request_id``."""
    return (
        f"correlation_display={CORRELATION_DISPLAY}^correlation_id={request_id}"
        "^ORDERBYsys_created_on"
    )


def decided_changes_query() -> str:
    """Open PAO change requests whose approval is decided (what the poller announces)."""
    return (
        f"correlation_display={CORRELATION_DISPLAY}^active=true"
        "^approvalINapproved,rejected^ORDERBYsys_updated_on"
    )


def message_id(sys_id: str, approval: str) -> str:
    """The CloudEvent id of the ``ChangeRequestDecided`` for this decision of this record."""
    return str(uuid.uuid5(_NAMESPACE, f"{sys_id}/{approval}"))


def _text(value: Any) -> str:
    """A field as the Table API gives it: a string, or ``{value, display_value}``."""
    if isinstance(value, Mapping):
        value = value.get("value")
    return "" if value is None else str(value)


def change_decided(record: Mapping[str, Any]) -> ChangeRequestDecided | None:
    """``ChangeRequestDecided`` for a decided PAO change request (a Table API record), else None."""
    approval = _text(record.get("approval")).lower()
    request_id = _text(record.get("correlation_id"))
    sys_id = _text(record.get("sys_id"))
    display = _text(record.get("correlation_display"))
    if approval not in ("approved", "rejected") or not request_id or not sys_id:
        return None
    if display and display != CORRELATION_DISPLAY:
        return None  # another integration's change
    comment = _text(record.get("comments")) or _text(record.get("approval_comment")) or None
    return ChangeRequestDecided(
        request_id=request_id,
        sys_id=sys_id,
        number=_text(record.get("number")) or None,
        approval=approval,
        by=_text(record.get("sys_updated_by")) or None,
        comment=comment,
    )


__all__ = [
    "APPROVALS",
    "CHANGE_FIELDS",
    "CHANGE_TABLE",
    "CLOSE_CODES",
    "CORRELATION_DISPLAY",
    "ENDED_STATES",
    "RISKS",
    "STATES",
    "STATE_ASSESS",
    "STATE_AUTHORIZE",
    "STATE_CANCELED",
    "STATE_CLOSED",
    "STATE_IMPLEMENT",
    "STATE_NEW",
    "STATE_REVIEW",
    "STATE_SCHEDULED",
    "SecretBasicAuth",
    "ServiceNowRefused",
    "ServiceNowUnavailable",
    "TableApi",
    "change_decided",
    "change_url",
    "message_id",
    "sn_datetime",
]

"""A client of ServiceNow's Table API (``/api/now/table/{table}``), just what the sync needs.

Every call goes through the instance's circuit breaker. Answers are sorted by what they
mean for the caller: 2xx is the ``result``; 5xx, 429, a timeout or no connection mean
ServiceNow is down (``ServiceNowUnavailable``, retried); so do 401 and 403, which a
rotated password or a fixed role cures without touching the event; any other 4xx is
ServiceNow refusing this write (``ServiceNowRefused``, with its ``error.message``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import httpx
from pao_common.executor.breaker import CircuitBreaker

from pao_executors.cmdb.errors import ServiceNowRefused, ServiceNowUnavailable

TABLE = "/api/now/table/{table}"
_DOWN = frozenset({401, 403, 408, 429})


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
        result = await self._call(
            "GET",
            TABLE.format(table=table),
            params={
                "sysparm_query": f"{field}={value}^ORDERBYsys_created_on",
                "sysparm_fields": "sys_id,install_status",
                "sysparm_limit": "10",
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

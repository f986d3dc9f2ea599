"""Every HTTP request runs in a trace context: the caller's ``traceparent`` continued, or
a new trace; its id is what the logs and published messages carry. A handled message's
``traceparent`` is the trace context of its handling likewise."""

from __future__ import annotations

import json
import logging

import httpx
from opentelemetry import trace
from pao_common.logs import JsonFormatter, bind_context
from pao_common.service import ObserveRequests
from pao_common.telemetry import configure_tracing, current_traceparent, in_trace
from starlette.types import Receive, Scope, Send

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Inner:
    """Records the trace id current while the app runs."""

    def __init__(self) -> None:
        self.trace_ids: list[str | None] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = trace.get_current_span().get_span_context()
        self.trace_ids.append(format(context.trace_id, "032x") if context.is_valid else None)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _get(inner: Inner, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=ObserveRequests(inner, service="test"))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.get("/x", headers=headers)


async def test_a_request_continues_the_callers_trace_or_starts_one() -> None:
    configure_tracing("test")
    inner = Inner()
    response = await _get(inner, {"traceparent": CALLER, "x-request-id": "r-1"})
    assert response.status_code == 204 and response.headers["x-request-id"] == "r-1"
    await _get(inner, {})
    await _get(inner, {})
    continued, first, second = inner.trace_ids
    assert continued == CALLER.split("-")[1]
    assert first is not None and second is not None and first != second, "a new trace each"


def test_a_handled_messages_trace_reaches_logs_and_what_is_published() -> None:
    configure_tracing("test")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "handled", None, None)
    formatter = JsonFormatter("test")
    with bind_context(request_id="r-1"), in_trace(CALLER):
        line = json.loads(formatter.format(record))
        published = current_traceparent()
    assert line["trace_id"] == CALLER.split("-")[1] and line["request_id"] == "r-1"
    assert published is not None and published.split("-")[1] == CALLER.split("-")[1]
    with in_trace(None):
        assert "trace_id" not in json.loads(formatter.format(record))

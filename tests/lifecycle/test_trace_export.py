"""Must-show (issue #13): one request is one exported trace.

Real processes (gateway, catalog, orchestrator, the debug and REST executors) export
over OTLP/HTTP to a receiver in this test (``tests.support.otlp_receiver``, decoding the
``ExportTraceServiceRequest`` protobuf). A two-step request submitted over HTTP must give
one trace: the gateway's HTTP span is its root, every Kafka hop continues it (consumer
spans, the outbox relay's publish), and the executors' runs and the REST call's httpx
span hang under the command that caused them.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.lifecycle.conftest import start_platform
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.platform import wait_until
from tests.support.services import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5


async def test_one_request_is_one_trace_across_every_hop(
    make_platform, db_pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OtlpReceiver() as receiver:
        # Every service process inherits these (tests.support.services.service_env).
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        platform = make_platform(with_gateway=True)
        rest = ServiceProcess(
            "pao_executors.rest",
            platform.env(PAO_REST_SANDBOX_URL=f"{receiver.url}/echo"),
            platform.log_dir,
        )
        try:
            await start_platform(platform)
            await asyncio.to_thread(rest.start)
            assert platform.gateway is not None
            async with httpx.AsyncClient(base_url=platform.gateway.url, timeout=30) as client:
                r = await client.post(
                    "/api/v1/requests",
                    json={"item_id": "trace-two-steps", "inputs": {"message": "traced"}},
                    headers={"Authorization": f"Bearer {platform.token('alice')}"},
                )
            assert r.status_code == 202, r.text
            request_id = r.json()["id"]
            done = await wait_until(db_pool, [request_id], platform=platform)
            assert done[request_id] == "completed", platform.logs()
            spans = await _trace_of(receiver, request_id)
        finally:
            rest.stop()

    by_id = {s.span_id: s for s in spans}
    trace_ids = {s.trace_id for s in spans}
    assert len(trace_ids) == 1, _describe(spans)
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == 1, _describe(spans)
    root = roots[0]
    assert (root.service, root.kind) == ("pao-gateway", SERVER), _describe(spans)
    # Every other span's parent was exported too: nothing hangs off a missing span.
    orphans = [s for s in spans if s.parent_span_id and s.parent_span_id not in by_id]
    assert not orphans, _describe(spans)

    def one(service: str, name: str, kind: int) -> ReceivedSpan:
        found = [s for s in spans if s.service == service and s.name == name and s.kind == kind]
        assert len(found) == 1, f"{service} {name}: {len(found)}\n{_describe(spans)}"
        return found[0]

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        return by_id[span.parent_span_id]

    submit = one("pao-orchestrator", "pao.request.submit process", CONSUMER)
    assert _ancestors(submit, by_id)[-1] is root
    assert submit.attributes["pao.request_id"] == request_id
    # The gateway span that published the submission names the request and the item.
    sent_by = parent(submit)
    assert sent_by.service == "pao-gateway", _describe(spans)
    assert sent_by.attributes["pao.request_id"] == request_id
    assert sent_by.attributes["pao.item_id"] == "trace-two-steps"

    for step, action, executor in (("echo", "debug.log", "debug"), ("ping", "rest", "rest")):
        runs = [s for s in spans if s.name == f"execute {action}"]
        assert len(runs) == 1, _describe(spans)
        run = runs[0]
        assert run.service == f"pao-executor-{executor}", _describe(spans)
        assert run.attributes["pao.step_id"] == step
        assert run.attributes["pao.action_type"] == action
        consumed = parent(run)
        assert consumed.kind == CONSUMER and consumed.service == run.service, _describe(spans)
        published = parent(consumed)
        assert published.kind == PRODUCER and published.service == "pao-orchestrator"
        assert published.attributes["pao.step_id"] == step
        # The relay's publish continues the handling that wrote the outbox row.
        handling = parent(published)
        assert handling.kind == CONSUMER and handling.service == "pao-orchestrator"

    # The REST call: an httpx client span under the run, its traceparent sent to the target.
    (rest_run,) = [s for s in spans if s.name == "execute rest"]
    calls = [s for s in spans if s.kind == CLIENT and s.parent_span_id == rest_run.span_id]
    assert len(calls) == 1, _describe(spans)
    sent = [h.get("traceparent", "") for h in receiver.echo_headers]
    assert any(calls[0].span_id in tp for tp in sent), sent

    # The completion: the orchestrator handles the REST run's answer inside the trace.
    answers = [
        s
        for s in spans
        if s.service == "pao-orchestrator"
        and s.kind == CONSUMER
        and s.name == "pao.action.succeeded process"
        and rest_run in _ancestors(s, by_id)
    ]
    assert len(answers) == 1, _describe(spans)


async def _trace_of(receiver: OtlpReceiver, request_id: str) -> list[ReceivedSpan]:
    """The spans of the request's trace, once both answers were handled and a poll brought
    nothing new (the services export in batches every 100 ms)."""
    deadline = time.monotonic() + 20
    spans: list[ReceivedSpan] = []
    while time.monotonic() < deadline:
        before = len(spans)
        received = receiver.received()
        traces = {s.trace_id for s in received if s.attributes.get("pao.request_id") == request_id}
        spans = [s for s in received if s.trace_id in traces]
        answers = sum(1 for s in spans if s.name == "pao.action.succeeded process")
        if answers >= 2 and len(spans) == before:
            return spans
        await asyncio.sleep(0.5)
    return spans


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def _describe(spans: list[ReceivedSpan]) -> str:
    return "\n".join(
        f"{s.service:24} {s.kind} {s.name:40} {s.span_id} <- {s.parent_span_id or '-'}"
        for s in sorted(spans, key=lambda s: s.service)
    )

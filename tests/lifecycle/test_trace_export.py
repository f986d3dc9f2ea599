"""Must-show (issue #13): one request is one exported trace.

Real processes (gateway, catalog, orchestrator, the debug and REST executors) export
over OTLP/HTTP to a receiver in this test (``tests.support.otlp_receiver``, decoding the
``ExportTraceServiceRequest`` protobuf). A two-step request submitted over HTTP must give
one trace: the gateway's HTTP span is its root, every Kafka hop continues it (consumer
spans, the outbox relay's publish), and the executors' runs and the REST call's httpx
span hang under the command that caused them. With ``OTEL_LOGS_EXPORTER=otlp`` the log
records go to the same receiver, each in the trace (and span) it was written in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from tests.lifecycle.conftest import MakePlatform, start_platform
from tests.support.otlp_receiver import OtlpReceiver, ReceivedLog, ReceivedSpan
from tests.support.platform import wait_until
from tests.support.services import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5


async def test_one_request_is_one_trace_across_every_hop(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OtlpReceiver() as receiver:
        # Every service process inherits these (tests.support.services.service_env).
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
        monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "100")
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
            logs = await _logs_of(receiver, {s.trace_id for s in spans})
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

    # Logs over OTLP: the debug action's line and each executor's attempt line, in the
    # trace, under the span of the run that wrote them, with the bound context.
    for step, action, executor in (("echo", "debug.log", "debug"), ("ping", "rest", "rest")):
        (run,) = [s for s in spans if s.name == f"execute {action}"]
        assert run.service == f"pao-executor-{executor}"
        attempt = [r for r in logs if r.body == f"execute {action} attempt 1: succeeded"]
        assert len(attempt) == 1, _describe_logs(logs)
        record = attempt[0]
        assert (record.service, record.trace_id) == (run.service, run.trace_id)
        assert record.span_id == run.span_id, _describe_logs(logs)
        assert record.severity_text == "INFO"
        assert record.attributes["pao.request_id"] == request_id
        assert record.attributes["pao.step_id"] == step
    (said,) = [r for r in logs if r.body == "debug.log: traced"]
    (echo_run,) = [s for s in spans if s.name == "execute debug.log"]
    assert (said.service, said.span_id) == ("pao-executor-debug", echo_run.span_id)
    # The orchestrator and the gateway export theirs too (one resource per service).
    services = {r.service for r in receiver.received_logs()}
    assert {"pao-gateway", "pao-orchestrator"} <= services, services


async def test_a_fallback_to_manual_stays_in_the_request_trace(
    make_platform: MakePlatform, db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed step, the rollback of the one before, then the manual ticket's command:
    all in the trace the gateway's submission started (issue #13)."""
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        platform = make_platform(with_gateway=True)
        await start_platform(platform)
        assert platform.gateway is not None
        async with httpx.AsyncClient(base_url=platform.gateway.url, timeout=30) as client:
            r = await client.post(
                "/api/v1/requests",
                json={"item_id": "trace-fallback", "inputs": {"message": "traced"}},
                headers={"Authorization": f"Bearer {platform.token('alice')}"},
            )
        assert r.status_code == 202, r.text
        request_id = r.json()["id"]
        # No JIRA executor here: the ticket's command waits on its topic, the request in
        # fallback_to_manual.
        done = await wait_until(db_pool, [request_id], ["fallback_to_manual"], platform=platform)
        assert done[request_id] == "fallback_to_manual", platform.logs()
        spans = await _spans_until(
            receiver, request_id, lambda found: any(_is_ticket(s) for s in found)
        )

    assert len({s.trace_id for s in spans}) == 1, _describe(spans)
    by_id = {s.span_id: s for s in spans}
    (root,) = [s for s in spans if not s.parent_span_id]
    assert (root.service, root.kind) == ("pao-gateway", SERVER), _describe(spans)
    (ticket,) = [s for s in spans if _is_ticket(s)]
    assert ticket.service == "pao-orchestrator" and ticket.kind == PRODUCER
    assert ticket.attributes["pao.request_id"] == request_id
    chain = _ancestors(ticket, by_id)
    assert chain[-1] is root, _describe(spans)
    # The ticket follows the rollback: its command is published by the handling of the
    # compensation's answer, which hangs under the debug executor's compensate run.
    (undo,) = [s for s in spans if s.name == "compensate debug.log"]
    assert undo in chain, _describe(spans)
    (failed,) = [s for s in spans if s.name == "execute debug.fail"]
    assert failed in _ancestors(undo, by_id), _describe(spans)


def _is_ticket(span: ReceivedSpan) -> bool:
    return span.kind == PRODUCER and span.attributes.get("pao.step_id") == "manual-ticket"


async def _spans_until(
    receiver: OtlpReceiver, request_id: str, done: Callable[[list[ReceivedSpan]], bool]
) -> list[ReceivedSpan]:
    """The spans of the request's trace once ``done`` holds and a poll brought nothing new."""
    deadline = time.monotonic() + 20
    spans: list[ReceivedSpan] = []
    while time.monotonic() < deadline:
        before = len(spans)
        received = receiver.received()
        traces = {s.trace_id for s in received if s.attributes.get("pao.request_id") == request_id}
        spans = [s for s in received if s.trace_id in traces]
        if done(spans) and len(spans) == before:
            return spans
        await asyncio.sleep(0.5)
    return spans


async def _logs_of(receiver: OtlpReceiver, trace_ids: set[str]) -> list[ReceivedLog]:
    """The log records of those traces, once both executors' attempt lines arrived and a
    poll brought nothing new."""
    deadline = time.monotonic() + 20
    logs: list[ReceivedLog] = []
    while time.monotonic() < deadline:
        before = len(logs)
        logs = [r for r in receiver.received_logs() if r.trace_id in trace_ids]
        attempts = sum(1 for r in logs if " attempt 1: " in r.body)
        if attempts >= 2 and len(logs) == before:
            return logs
        await asyncio.sleep(0.5)
    return logs


def _describe_logs(logs: list[ReceivedLog]) -> str:
    return "\n".join(f"{r.service:24} {r.trace_id} {r.span_id} {r.body}" for r in logs)


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

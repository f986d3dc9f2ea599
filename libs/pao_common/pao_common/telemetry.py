"""OpenTelemetry tracing: a tracer provider per process and W3C ``traceparent`` helpers.

By default no exporter is configured and spans are not recorded (sampler ``always_off``):
they still carry trace ids, which reach the logs and travel in HTTP and message
headers, but recording attributes and events nobody exports cost every request CPU.

The standard variables switch export on: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) adds a batching OTLP exporter, over HTTP/protobuf
unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` says ``grpc``; the sampler then defaults to the
SDK's ``parentbased_always_on`` and ``OTEL_TRACES_SAMPLER`` still chooses another.
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the resource (the SDK reads
them; ``pao-<service>`` is the name when they do not). Outgoing httpx calls get client
spans only when spans are recorded, so the default path pays nothing for them.

Logs go over OTLP too when ``OTEL_LOGS_EXPORTER=otlp`` (``none``, the default, keeps them
on stdout only): ``log_provider`` builds a logger provider with a batching OTLP log
exporter (``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``, the
protocol as for traces, ``OTEL_BLRP_*`` for the batching) and ``pao_common.logs`` hands it
every record, in the trace it was written in. Unset, no handler is installed at all.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False
_recording: bool | None = None  # spans_recorded(), read once (``recording``)
_tracer = trace.get_tracer("pao.kafka")
_log_provider: LoggerProvider | None = None

# Message fields that become span attributes (``pao.<field>``) when present.
SPAN_FIELDS = ("request_id", "item_id", "step_id", "action_type")


def otlp_export_enabled() -> bool:
    """Whether an OTLP endpoint is configured (the standard variables)."""
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def spans_recorded() -> bool:
    """Whether the deployment asked for spans (an OTLP endpoint or ``OTEL_TRACES_SAMPLER``)."""
    return otlp_export_enabled() or bool(os.environ.get("OTEL_TRACES_SAMPLER"))


def recording() -> bool:
    """``spans_recorded()``, read from the environment once per process."""
    global _recording
    if _recording is None:
        _recording = spans_recorded()
    return _recording


def _protocol(signal: str) -> str:
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol not in ("grpc", "http/protobuf"):
        raise RuntimeError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use http/protobuf or grpc"
        )
    return protocol


def _otlp_exporter() -> SpanExporter:
    """The OTLP span exporter the standard variables ask for; it reads the endpoint,
    headers, timeout and compression variables itself."""
    if _protocol("TRACES") == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError as exc:
            raise RuntimeError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc;"
                " install it or use http/protobuf"
            ) from exc
        return cast(SpanExporter, GrpcExporter())
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def logs_exported() -> bool:
    """Whether ``OTEL_LOGS_EXPORTER`` asks for OTLP (``otlp``; unset or ``none``: no)."""
    names = {
        name.strip()
        for name in os.environ.get("OTEL_LOGS_EXPORTER", "none").lower().split(",")
        if name.strip()
    }
    unknown = names - {"otlp", "none"}
    if unknown:
        raise RuntimeError(
            f"OTEL_LOGS_EXPORTER={os.environ['OTEL_LOGS_EXPORTER']!r}: only otlp and none are"
            " supported (logs always go to stdout as well)"
        )
    return "otlp" in names


def _otlp_log_exporter() -> LogRecordExporter:
    if _protocol("LOGS") == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPLogExporter as GrpcLogExporter,
            )
        except ImportError as exc:
            raise RuntimeError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc;"
                " install it or use http/protobuf"
            ) from exc
        return cast(LogRecordExporter, GrpcLogExporter())
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter()


def log_provider(service: str) -> LoggerProvider | None:
    """A logger provider exporting over OTLP when ``logs_exported()``, else None."""
    global _log_provider
    if not logs_exported():
        return None
    if _log_provider is None:  # one per process, however often logging is configured
        _log_provider = LoggerProvider(resource=_resource(service))
        _log_provider.add_log_record_processor(BatchLogRecordProcessor(_otlp_log_exporter()))
        atexit.register(_log_provider.shutdown)  # flush what is batched at exit
    return _log_provider


def _resource(service: str) -> Resource:
    # Attributes given here win over the environment's: name the service only when the
    # deployment did not (OTEL_SERVICE_NAME, or service.name in OTEL_RESOURCE_ATTRIBUTES).
    attributes = {} if _service_named_by_env() else {"service.name": f"pao-{service}"}
    return Resource.create(attributes)


def configure_tracing(service: str) -> None:
    global _configured
    global _recording
    if _configured:
        return
    _recording = spans_recorded()
    sampler = None if _recording else ALWAYS_OFF
    provider = TracerProvider(resource=_resource(service), sampler=sampler)
    if otlp_export_enabled():
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        atexit.register(provider.shutdown)  # flush what is batched when the process ends
    trace.set_tracer_provider(provider)
    if spans_recorded():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
    _configured = True


def _service_named_by_env() -> bool:
    if os.environ.get("OTEL_SERVICE_NAME"):
        return True
    pairs = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    return any(pair.split("=", 1)[0].strip() == "service.name" for pair in pairs)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def in_trace(traceparent: str | None) -> Iterator[None]:
    """Make ``traceparent`` the current trace context (nothing when it is None), so what is
    logged and published meanwhile carries it."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(_propagator.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)


def context_from_traceparent(traceparent: str | None) -> object:
    return _propagator.extract({"traceparent": traceparent} if traceparent else {})


def message_attributes(message: object, request_id: str | None = None) -> dict[str, str]:
    """``pao.request_id``, ``pao.item_id``, ``pao.step_id``, ``pao.action_type`` of a
    message or of a message body (the fields it has), for the spans that handle or send it."""
    attributes = {"pao.request_id": request_id} if request_id else {}
    for name in SPAN_FIELDS:
        value = message.get(name) if isinstance(message, dict) else getattr(message, name, None)
        if isinstance(value, str) and value:
            attributes[f"pao.{name}"] = value
    return attributes


@contextlib.contextmanager
def message_span(
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind,
    attributes: Callable[[], dict[str, str]],
) -> Iterator[None]:
    """A span continuing ``traceparent`` (a consumer's handling, a relay's publish) when
    spans are recorded; otherwise only that context made current (``in_trace``), which
    costs no span (nor the ``attributes()`` call). Messages published inside carry the
    span's ``traceparent``."""
    if not recording():
        with in_trace(traceparent):
            yield
        return
    with _tracer.start_as_current_span(
        name,
        context=cast(otel_context.Context, context_from_traceparent(traceparent)),
        kind=kind,
        attributes=attributes(),
    ):
        yield


def tag_current_span(message: object, request_id: str | None = None) -> None:
    """Put ``message_attributes`` on the current span (the HTTP request's), when spans
    are recorded."""
    if recording():
        trace.get_current_span().set_attributes(message_attributes(message, request_id))

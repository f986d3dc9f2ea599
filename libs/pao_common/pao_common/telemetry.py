"""OpenTelemetry tracing: a tracer provider per process and W3C ``traceparent`` helpers.

No exporter is installed, so by default spans are not recorded (sampler ``always_off``):
they still carry trace ids, which reach the logs and travel in HTTP and message
headers, but recording attributes and events nobody exports cost every request CPU.
A deployment that adds an exporter sets the standard ``OTEL_TRACES_SAMPLER`` (for
example ``parentbased_always_on``), which is honoured.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False


def spans_recorded() -> bool:
    """Whether the deployment asked for spans (``OTEL_TRACES_SAMPLER``)."""
    return bool(os.environ.get("OTEL_TRACES_SAMPLER"))


def configure_tracing(service: str) -> None:
    global _configured
    if _configured:
        return
    sampler = None if spans_recorded() else ALWAYS_OFF
    trace.set_tracer_provider(
        TracerProvider(
            resource=Resource.create({"service.name": f"pao-{service}"}), sampler=sampler
        )
    )
    _configured = True


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

"""OpenTelemetry tracing: a tracer provider per process and W3C ``traceparent`` helpers.

Exporters are configured by the standard ``OTEL_*`` variables where an exporter
package is installed; without one, spans still exist so trace ids reach the logs
and travel in message headers.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False


def configure_tracing(service: str) -> None:
    global _configured
    if _configured:
        return
    trace.set_tracer_provider(
        TracerProvider(resource=Resource.create({"service.name": f"pao-{service}"}))
    )
    _configured = True


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> object:
    return _propagator.extract({"traceparent": traceparent} if traceparent else {})

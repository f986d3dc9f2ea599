"""JSON structured logging that carries the request id and trace id of the work at hand.

``bind_context`` sets them for the current task (HTTP request or Kafka message);
every log line written inside it carries them without passing them around.

With ``OTEL_LOGS_EXPORTER=otlp`` (``pao_common.telemetry.log_provider``) every record also
goes over OTLP, by ``OtlpLogHandler``: in the trace it was written in (trace and span id)
and with the bound context as ``pao.<name>`` attributes. Without it no handler is added.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider

from pao_common.telemetry import log_provider

_EMPTY: dict[str, str] = {}
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "pao_log_context",
    default=_EMPTY,  # never mutated, only replaced
)


@contextmanager
def bind_context(**values: str | None) -> Iterator[None]:
    merged = {**_context.get(), **{k: v for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, str]:
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context.get())
        # The current trace: an HTTP request's span, or the handled message's traceparent.
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(ctx)s")
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ctx = _context.get()
        record.ctx = (" " + " ".join(f"{k}={v}" for k, v in ctx.items())) if ctx else ""
        return super().format(record)


# Python levels to OpenTelemetry severity numbers (the first of each range).
_SEVERITIES = (
    (logging.CRITICAL, SeverityNumber.FATAL),
    (logging.ERROR, SeverityNumber.ERROR),
    (logging.WARNING, SeverityNumber.WARN),
    (logging.INFO, SeverityNumber.INFO),
    (logging.DEBUG, SeverityNumber.DEBUG),
)
_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def severity(levelno: int) -> SeverityNumber:
    for floor, number in _SEVERITIES:
        if levelno >= floor:
            return number
    return SeverityNumber.TRACE


class OtlpLogHandler(logging.Handler):
    """Hands each record to an OpenTelemetry logger provider (its batching OTLP exporter),
    in the current context, so the exported record carries the trace and span id of the
    HTTP request or message at hand, with the bound context as ``pao.<name>`` attributes.
    The OpenTelemetry SDK's own records are left to stdout: an exporter's warning about a
    failed export would otherwise feed the export it is about."""

    def __init__(self, provider: LoggerProvider) -> None:
        super().__init__()
        self.provider = provider
        self._loggers: dict[str, Logger] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("opentelemetry"):
            return
        try:
            logger = self._loggers.get(record.name)
            if logger is None:
                logger = self._loggers[record.name] = self.provider.get_logger(record.name)
            attributes: dict[str, str | int] = {
                f"pao.{key}": value for key, value in _context.get().items()
            }
            attributes["code.file.path"] = record.pathname
            attributes["code.function.name"] = record.funcName
            attributes["code.line.number"] = record.lineno
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
                attributes["exception.message"] = str(record.exc_info[1])
                attributes["exception.stacktrace"] = "".join(
                    traceback.format_exception(*record.exc_info)
                )
            logger.emit(
                timestamp=int(record.created * 1e9),
                context=otel_context.get_current(),
                severity_number=severity(record.levelno),
                severity_text=_SEVERITY_TEXT.get(record.levelname, record.levelname),
                body=record.getMessage(),
                attributes=attributes,
            )
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.provider.force_flush()


def configure_logging(service: str, *, level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service) if json_lines else PlainFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    provider = log_provider(service)
    if provider is not None:
        root.addHandler(OtlpLogHandler(provider))
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access", "httpx", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

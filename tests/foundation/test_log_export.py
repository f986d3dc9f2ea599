"""Logs over OTLP (issue #13): ``OTEL_LOGS_EXPORTER=otlp`` adds a handler that exports
every record in the trace it was written in, with the bound context; unset, none is
added (no cost). Unknown exporter names are refused, naming the variable."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from pao_common.logs import OtlpLogHandler, bind_context, configure_logging
from pao_common.telemetry import configure_tracing, in_trace, logs_exported

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_logs_stay_on_stdout_only_by_default(
    monkeypatch: pytest.MonkeyPatch, root_handlers: None
) -> None:
    monkeypatch.delenv("OTEL_LOGS_EXPORTER", raising=False)
    assert not logs_exported()
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    assert not logs_exported()
    configure_logging("test")
    handlers = logging.getLogger().handlers
    assert len(handlers) == 1 and not isinstance(handlers[0], OtlpLogHandler)


def test_otlp_switches_export_on_and_unknown_names_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    assert logs_exported()
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "zipkin")
    with pytest.raises(RuntimeError, match="OTEL_LOGS_EXPORTER='zipkin'"):
        logs_exported()


def test_an_exported_record_carries_its_trace_and_the_bound_context() -> None:
    configure_tracing("test")
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # otel: unannotated
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("pao.test.export")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(OtlpLogHandler(provider))
    try:
        with bind_context(request_id="r-1", step_id="s"), in_trace(CALLER):
            logger.warning("step %s is slow", "s")
            try:
                raise ValueError("bad input")
            except ValueError:
                logger.exception("step failed")
        logger.info("outside any trace")
        # The SDK's own records (a failed export's warning) do not feed the export.
        logging.getLogger("opentelemetry.exporter.otlp").addHandler(OtlpLogHandler(provider))
        logging.getLogger("opentelemetry.exporter.otlp").warning("export failed")
    finally:
        logger.handlers.clear()
        logging.getLogger("opentelemetry.exporter.otlp").handlers.clear()
    slow, failed, outside = (r.log_record for r in exporter.get_finished_logs())
    assert slow.body == "step s is slow" and slow.severity_text == "WARN"
    assert format(slow.trace_id or 0, "032x") == CALLER.split("-")[1]
    assert format(slow.span_id or 0, "016x") == CALLER.split("-")[2]
    assert slow.attributes is not None
    assert slow.attributes["pao.request_id"] == "r-1" and slow.attributes["pao.step_id"] == "s"
    assert failed.severity_text == "ERROR" and failed.attributes is not None
    assert failed.attributes["exception.type"] == "ValueError"
    assert "bad input" in str(failed.attributes["exception.stacktrace"])
    assert not outside.trace_id

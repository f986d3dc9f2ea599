"""A local OTLP/HTTP receiver for tests: what a collector sees, decoded.

``POST /v1/traces`` takes the ``ExportTraceServiceRequest`` protobuf (gzip or not) that
the OpenTelemetry OTLP/HTTP exporter sends and keeps its spans as ``ReceivedSpan``s;
``POST /v1/logs`` takes ``ExportLogsServiceRequest`` and keeps ``ReceivedLog``s.
Any ``GET`` under ``/echo/`` answers ``200 {"ok": true}`` and keeps the request's
headers: a target for an executor's outgoing call (the REST executor's sandbox URL).
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pao_devtools.ports import free_port


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int  # opentelemetry.proto Span.SpanKind: 2 server, 3 client, 4 producer, 5 consumer
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedLog:
    service: str
    logger: str  # the instrumentation scope: the Python logger's name
    severity_text: str
    body: str
    trace_id: str  # "" when written outside any trace
    span_id: str
    attributes: dict[str, Any]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class OtlpReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.spans: list[ReceivedSpan] = []
        self.logs: list[ReceivedLog] = []
        self.echo_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path not in ("/v1/traces", "/v1/logs"):
                    self.send_error(404)
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    receiver._keep(request)
                    answer = ExportTraceServiceResponse().SerializeToString()
                else:
                    logs = ExportLogsServiceRequest()
                    logs.ParseFromString(body)
                    receiver._keep_logs(logs)
                    answer = ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                if not self.path.startswith("/echo/"):
                    self.send_error(404)
                    return
                with receiver._lock:
                    receiver.echo_headers.append({k.lower(): v for k, v in self.headers.items()})
                answer = json.dumps({"ok": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _keep(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self._lock:
            self.spans.extend(spans)

    def _keep_logs(self, request: ExportLogsServiceRequest) -> None:
        logs = []
        for resource_logs in request.resource_logs:
            resource = {a.key: _value(a.value) for a in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    logs.append(
                        ReceivedLog(
                            service=str(resource.get("service.name", "")),
                            logger=scope_logs.scope.name,
                            severity_text=record.severity_text,
                            body=str(_value(record.body)),
                            trace_id=record.trace_id.hex(),
                            span_id=record.span_id.hex(),
                            attributes={a.key: _value(a.value) for a in record.attributes},
                        )
                    )
        with self._lock:
            self.logs.extend(logs)

    def received_logs(self) -> list[ReceivedLog]:
        with self._lock:
            return list(self.logs)

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

"""CloudEvents 1.0 over Kafka, binary content mode.

Attributes travel as ``ce_*`` headers, the JSON body is the record value and the
record key is the event's subject (the request id), which keeps one request's
messages in order. See https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from pao_common.errors import InvalidMessage

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = list[tuple[str, bytes]]


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class CloudEvent(BaseModel):
    """One message: its CloudEvents attributes and its JSON data."""

    id: str = Field(default_factory=new_id)
    type: str
    source: str
    subject: str | None = None
    time: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = Field(default_factory=dict)
    traceparent: str | None = None
    extensions: dict[str, str] = Field(default_factory=dict)

    def key(self) -> bytes | None:
        return self.subject.encode() if self.subject else None

    def headers(self) -> Headers:
        headers: Headers = [
            ("ce_specversion", SPEC_VERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if self.subject:
            headers.append(("ce_subject", self.subject.encode()))
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        headers.extend((f"ce_{k}", v.encode()) for k, v in self.extensions.items())
        return headers

    def header_map(self) -> dict[str, str]:
        return {k: v.decode() for k, v in self.headers()}

    def value(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":"), default=str).encode()


_KNOWN = {"ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "ce_subject"}


def decode_headers(raw: Iterable[tuple[str, bytes]] | Mapping[str, Any] | None) -> dict[str, str]:
    """Kafka headers as ``str -> str`` (undecodable values are replaced, not dropped)."""
    if raw is None:
        return {}
    items = raw.items() if isinstance(raw, Mapping) else raw
    out: dict[str, str] = {}
    for k, v in items:
        out[k] = v.decode("utf-8", "replace") if isinstance(v, bytes | bytearray) else str(v)
    return out


def from_kafka(headers: Mapping[str, str], value: bytes) -> CloudEvent:
    """Parse a binary-mode record; ``InvalidMessage`` says what is wrong."""
    missing = [h for h in ("ce_specversion", "ce_id", "ce_type", "ce_source") if h not in headers]
    if missing:
        raise InvalidMessage(f"missing CloudEvents header(s): {', '.join(missing)}")
    if headers["ce_specversion"] != SPEC_VERSION:
        raise InvalidMessage(f"unsupported ce_specversion {headers['ce_specversion']!r}")
    try:
        data = json.loads(value) if value else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidMessage(f"body must be a JSON object, got {type(data).__name__}")
    try:
        time = datetime.fromisoformat(headers["ce_time"]) if "ce_time" in headers else utcnow()
    except ValueError as exc:
        raise InvalidMessage(f"ce_time is not an RFC 3339 timestamp: {exc}") from exc
    return CloudEvent(
        id=headers["ce_id"],
        type=headers["ce_type"],
        source=headers["ce_source"],
        subject=headers.get("ce_subject"),
        time=time,
        data=data,
        traceparent=headers.get("traceparent"),
        extensions={
            k[3:]: v for k, v in headers.items() if k.startswith("ce_") and k not in _KNOWN
        },
    )

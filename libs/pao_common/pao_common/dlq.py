"""The dead-letter topic: where a message that cannot be parsed or handled goes.

The original value and headers are kept byte for byte, but for a credential
(``ce_authtoken``: a person's bearer token), which is replaced by ``redacted``: the
dead-letter topic is browsed by operators, and one more copy of a valid token there is one
more place to steal it from (a replayed command needs a fresh one anyway). ``pao_dlq_*``
headers add the reason and where the record came from, so an operator can fix and replay it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Counter

from pao_common.identity import CREDENTIAL_HEADER

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "pao_dead_letters_total",
    "Messages sent to the dead-letter topic",
    ["source_topic", "error_type"],
)


REDACTED_HEADERS = frozenset({CREDENTIAL_HEADER})


class RawPublisher(Protocol):
    async def publish(
        self,
        message: Any,
        topic: str,
        *,
        key: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any: ...


class DeadLetterPublisher:
    def __init__(self, broker: Any, topic: str, *, source: str) -> None:
        self._broker = broker
        self._topic = topic
        self._source = source

    async def send(self, record: Any, *, reason: str, error_type: str) -> None:
        """Publish ``record`` (an aiokafka ``ConsumerRecord``) to the DLQ with ``reason``."""
        original = {
            k: (v.decode("utf-8", "replace") if isinstance(v, bytes | bytearray) else str(v))
            for k, v in (getattr(record, "headers", None) or ())
        }
        for name in REDACTED_HEADERS & original.keys():
            original[name] = "redacted"
        headers = {
            **original,
            "pao_dlq_reason": reason[:4000],
            "pao_dlq_error_type": error_type,
            "pao_dlq_source_topic": str(record.topic),
            "pao_dlq_source_partition": str(record.partition),
            "pao_dlq_source_offset": str(record.offset),
            "pao_dlq_consumer": self._source,
            "pao_dlq_time": datetime.now(UTC).isoformat(),
        }
        value = record.value if record.value is not None else b""
        log.warning(
            "dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason
        )
        await self._broker.publish(value, self._topic, key=record.key, headers=headers)
        DEAD_LETTERS.labels(str(record.topic), error_type).inc()

"""The outbox gauges every service with an outbox table sets (orchestrator ``outbox``,
gateway ``gateway_submissions``), read from the database so they are right after a
restart and equal on every replica (alert on ``max``, not ``sum``)."""

from __future__ import annotations

from prometheus_client import Gauge

OUTBOX_BACKLOG = Gauge(
    "pao_outbox_backlog", "Messages committed and not yet published, by outbox", ["outbox"]
)
OUTBOX_AGE = Gauge(
    "pao_outbox_oldest_age_seconds",
    "Age of the oldest unpublished message, by outbox (0 when empty)",
    ["outbox"],
)


def set_outbox(outbox: str, backlog: int, oldest_age_s: float) -> None:
    OUTBOX_BACKLOG.labels(outbox).set(backlog)
    OUTBOX_AGE.labels(outbox).set(oldest_age_s)

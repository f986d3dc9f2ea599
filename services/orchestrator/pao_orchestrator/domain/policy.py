"""Deterministic ids and retry arithmetic: what ``decide`` needs that would otherwise be random.

Command and timer ids derive from (request, step, phase, attempt), so deciding twice
(after a concurrency conflict) or re-dispatching on start gives the same ids, and a
result for an older attempt never matches the current one. Backoff jitter derives
from the failed attempt's command id: spread across requests, reproducible in replay
(``pao_catalog_model.retry.RetryPolicy``, the one model the catalog reads ``retry:`` into).
"""

from __future__ import annotations

import uuid

from pao_catalog_model.retry import RetryPolicy

_NAMESPACE = uuid.UUID("6f0c1c3e-2b1a-4d0e-9b5e-7a7d5a0f0a11")

DEFAULT_TIMEOUT_S = 300.0
# The executor enforces the timeout itself and reports a failure; our timer is the
# backstop for an executor that never answers, so it fires a little later.
TIMEOUT_GRACE_S = 2.0


# The manual ticket is an external system call: retry transient failures a few times.
TICKET_RETRY = RetryPolicy(attempts=3, backoff_s=2.0, max_backoff_s=30.0, jitter=True)


def command_id(request_id: str, step_id: str, phase: str, attempt: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{request_id}/{step_id}/{phase}/{attempt}"))


def timer_id(request_id: str, kind: str, *parts: object) -> str:
    return "/".join([request_id, kind, *(str(p) for p in parts)])

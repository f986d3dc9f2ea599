"""Deterministic ids and retry arithmetic: what ``decide`` needs that would otherwise be random.

Command and timer ids derive from (request, step, phase, attempt), so deciding twice
(after a concurrency conflict) or re-dispatching on start gives the same ids, and a
result for an older attempt never matches the current one. Backoff jitter derives
from the failed attempt's command id: spread across requests, reproducible in replay.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

_NAMESPACE = uuid.UUID("6f0c1c3e-2b1a-4d0e-9b5e-7a7d5a0f0a11")

DEFAULT_TIMEOUT_S = 300.0
# The executor enforces the timeout itself and reports a failure; our timer is the
# backstop for an executor that never answers, so it fires a little later.
TIMEOUT_GRACE_S = 2.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    jitter: float = 0.0  # fraction of the delay that is randomised (0..1)

    @classmethod
    def of(cls, spec: Any) -> RetryPolicy:
        """From a catalog ``retry:`` block (a model, a dict or None)."""
        if spec is None:
            return cls()

        def get(name: str, default: Any) -> Any:
            value = spec.get(name) if isinstance(spec, dict) else getattr(spec, name, None)
            return default if value is None else value

        jitter = get("jitter", 0.0)
        if isinstance(jitter, bool):
            jitter = 0.5 if jitter else 0.0
        return cls(
            attempts=max(1, int(get("attempts", 1))),
            backoff_s=float(get("backoff_s", 1.0)),
            max_backoff_s=float(get("max_backoff_s", 60.0)),
            jitter=min(1.0, max(0.0, float(jitter))),
        )

    def delay_s(self, failed_attempt: int, command_id: str) -> float:
        """Exponential backoff after ``failed_attempt`` failed, jittered by ``command_id``."""
        base = min(self.backoff_s * 2 ** (failed_attempt - 1), self.max_backoff_s)
        return float(round(base * (1.0 - self.jitter * unit_fraction(command_id)), 3))


# The manual ticket is an external system call: retry transient failures a few times.
TICKET_RETRY = RetryPolicy(attempts=3, backoff_s=2.0, max_backoff_s=30.0, jitter=0.5)


def unit_fraction(seed: str) -> float:
    """A number in [0, 1) fixed by ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def command_id(request_id: str, step_id: str, phase: str, attempt: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{request_id}/{step_id}/{phase}/{attempt}"))


def timer_id(request_id: str, kind: str, *parts: object) -> str:
    return "/".join([request_id, kind, *(str(p) for p in parts)])

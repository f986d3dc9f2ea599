"""``RetryPolicy``: how often a step is tried and how long to wait between attempts.

One model for both sides: the catalog reads a step's ``retry:`` block into it (the
defaults below are the document's defaults), and the orchestrator's ``decide`` asks it
for the delay before the next attempt. The delay is exponential from ``backoff_s``,
capped at ``max_backoff_s``; with ``jitter`` up to half of it is taken off by a fraction
derived from a seed (the failed attempt's command id), so retries of many requests
spread out and a replay computes the same delay.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

# The share of a delay that jitter may take off.
JITTER_FRACTION = 0.5


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = 1
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    jitter: bool = True

    def delay_s(self, failed_attempt: int, seed: str) -> float:
        """Exponential backoff after ``failed_attempt`` failed, jittered by ``seed``."""
        base = min(self.backoff_s * 2 ** (failed_attempt - 1), self.max_backoff_s)
        fraction = JITTER_FRACTION if self.jitter else 0.0
        return float(round(base * (1.0 - fraction * unit_fraction(seed)), 3))


def unit_fraction(seed: str) -> float:
    """A number in [0, 1) fixed by ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64

"""Prometheus metrics of every executor, labelled by executor family and action type."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ACTIONS = Counter(
    "pao_executor_actions_total",
    "Actions run to an answer, by outcome "
    "(succeeded, failed, retryable_failure, timed_out, invalid_inputs, crashed)",
    ["executor", "action_type", "kind", "outcome"],
)
ACTION_DURATION = Histogram(
    "pao_executor_action_duration_seconds",
    "Time from taking a command to its answer",
    ["executor", "action_type", "kind", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
DUPLICATES = Counter(
    "pao_executor_duplicate_commands_total",
    "Commands received again: answered from the stored result (completed) or ignored (running)",
    ["executor", "state"],
)
IN_FLIGHT = Gauge("pao_executor_actions_in_flight", "Actions running now", ["executor"])
CIRCUIT_STATE = Gauge(
    "pao_executor_circuit_state",
    "Circuit breaker per target: 0 closed, 1 half-open, 2 open",
    ["executor", "target"],
)

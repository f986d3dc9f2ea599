"""Exceptions of the orchestrator.

OrchestratorError (pao_common.errors.PaoError)
├── ConcurrencyError     another writer appended to the stream first: reload and decide again
├── DuplicateMessage     the message was processed before: its effects are already recorded
├── ItemNotFound         the catalog has no (non-retired) version of the requested item
└── UnknownEventType     the log holds an event type or schema version this code cannot read
"""

from __future__ import annotations

from pao_common.errors import PaoError


class OrchestratorError(PaoError):
    """Base of the orchestrator's exceptions."""


class ConcurrencyError(OrchestratorError):
    """The stream moved on since it was loaded (unique violation on (stream_id, version))."""


class DuplicateMessage(OrchestratorError):
    """The message id is in ``processed_messages``: handling it again would duplicate events."""


class ItemNotFound(OrchestratorError):
    """No catalog version matches the requested item (and pinned version, if any)."""


class UnknownEventType(OrchestratorError):
    """A stored event whose type or schema version has no model or upcaster."""

"""Exceptions of the orchestrator.

OrchestratorError (pao_common.errors.PaoError)
├── ConcurrencyError     another writer appended to the stream first: reload and decide again
├── DuplicateMessage     the message was processed before: its effects are already recorded
├── ItemNotFound         the catalog has no (non-retired) version of the requested item
├── UnknownEventType     the log holds an event type or schema version this code cannot read
└── CommandNotAllowed    a command whose credential does not prove whom it acts for
                         (also a pao_common MessageRefused: dead-lettered with the reason)
"""

from __future__ import annotations

from typing import Literal

from pao_common.errors import MessageRefused, PaoError

Refusal = Literal["unauthenticated", "forbidden"]


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


class CommandNotAllowed(OrchestratorError, MessageRefused):
    """The command for ``request_id`` is refused for its credential: ``unauthenticated``
    (none, or one that does not verify) or ``forbidden`` (someone else's)."""

    def __init__(self, request_id: str, kind: Refusal, detail: str) -> None:
        super().__init__(f"{kind}: {detail}", error_type=kind.capitalize())
        self.request_id = request_id
        self.kind: Refusal = kind
        self.detail = detail

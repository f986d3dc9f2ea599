"""Exceptions of the notifier.

PaoError
└── NotifierError
    ├── InvalidPolicy        the notification policy does not load (``problems``: file:line)
    └── DeliveryFailed       one attempt to send failed (retried, then recorded as failed)
"""

from __future__ import annotations

from pao_common.errors import PaoError


class NotifierError(PaoError):
    pass


class InvalidPolicy(NotifierError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid notification policy:\n  " + "\n  ".join(problems))
        self.problems = problems


class DeliveryFailed(NotifierError):
    pass

"""Errors of the ``jira`` executor.

ActionError (pao_common.errors)
└── JiraCallError        a call to JIRA failed; ``retryable`` for 429, 5xx and network errors
    └── JiraRejected     JIRA answered 4xx (bad field, unknown project, no permission)
"""

from __future__ import annotations

from pao_common.errors import ActionError


class JiraCallError(ActionError):
    """A JIRA call failed; ``status`` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


class JiraRejected(JiraCallError):
    """JIRA refused the call (4xx other than 408/429): retrying the same call cannot help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, status=status, retryable=False)

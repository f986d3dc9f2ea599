"""Errors of the ``github-workflow`` executor (all ``ActionError``: they become ``ActionFailed``).

ActionError (pao_common.errors)
└── GithubError                 a workflow step failed
    ├── GithubApiError          GitHub answered an error (4xx: not retryable; 429, 5xx,
    │                           a rate limit, a connection that failed: retryable)
    ├── WorkflowRunNotFound     the dispatched run did not show up in time (retryable: the
    │                           next attempt looks for it again before dispatching)
    ├── WorkflowRunFailed       the run concluded failure, cancelled, timed_out... (not
    │                           retryable, except startup_failure)
    ├── ArtifactError           the outputs artifact is missing or not JSON
    └── GithubNotConfigured     no token, no App key: fix the settings
"""

from __future__ import annotations

from pao_common.errors import ActionError


class GithubError(ActionError):
    """A GitHub workflow step failed."""


class GithubApiError(GithubError):
    """GitHub answered with an error or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message, retryable=retryable)
        self.status = status


class WorkflowRunNotFound(GithubError):
    """No run carrying the correlation id appeared after the dispatch."""


class WorkflowRunFailed(GithubError):
    """The run completed with a conclusion other than success."""


class ArtifactError(GithubError):
    """The named artifact is missing, too big, or does not hold the JSON file."""


class GithubNotConfigured(GithubError):
    """Neither a token nor a GitHub App is configured."""

"""Exceptions of the CMDB sync.

ActionError (pao_common.errors; ``retryable`` tells the circuit breaker whether the
│            target is down or merely said no)
├── ServiceNowUnavailable   (pao_common.errors) 5xx, 429, a timeout, no connection,
│                           401/403: retried until it answers (retryable)
├── ServiceNowRefused       (pao_common.errors) any other 4xx (an unknown table, a refused
│                           value): the event is dead-lettered with ServiceNow's message
└── CmdbError
    ├── CatalogUnavailable      the catalog service did not answer (retryable)
    └── UnknownItemVersion      the catalog has no such item version: dead-lettered
"""

from __future__ import annotations

from pao_common.errors import ActionError, ServiceNowRefused, ServiceNowUnavailable

__all__ = [
    "CatalogUnavailable",
    "CmdbError",
    "ServiceNowRefused",
    "ServiceNowUnavailable",
    "UnknownItemVersion",
]


class CmdbError(ActionError):
    pass


class CatalogUnavailable(CmdbError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class UnknownItemVersion(CmdbError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)

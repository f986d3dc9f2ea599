"""Errors of the ``rest`` executor.

ActionError (pao_common.errors)
├── RestCallError        the call failed: no answer (retryable), 429/5xx after the
│                        attempts (retryable), or an answer that is not the expected one
├── UnsafeTarget         the URL is refused: not allowlisted, or it resolves to loopback,
│                        link-local, metadata or unspecified addresses (never retryable)
└── ExpressionError      an ``outputs`` / ``poll`` expression is malformed or finds nothing
                         (the ``rest`` contract's: ``pao_catalog_model.action_inputs``)
"""

from __future__ import annotations

from typing import Any

from pao_catalog_model.action_inputs.rest_expressions import ExpressionError
from pao_common.errors import ActionError

__all__ = ["ExpressionError", "RestCallError", "UnsafeTarget"]


class RestCallError(ActionError):
    """The HTTP call failed; ``status`` is the last HTTP status (None: no answer)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, outputs=outputs)
        self.status = status


class UnsafeTarget(ActionError):
    """The target is refused by the SSRF rules; never retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)

"""Exceptions of the sandboxes.

SandboxApiError           an API call the real system would refuse; each sandbox renders
                          it in its own dialect (JIRA ``errorMessages``/``errors``, GitHub
                          ``message``, Terraform JSON:API ``errors``, echo ``error``)
"""

from __future__ import annotations

from typing import Any

from pao_common.errors import PaoError


class SandboxApiError(PaoError):
    """Answer ``status`` with ``message``; ``fields`` names the offending fields, if any."""

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}
        self.body = body

"""CMDB sync tests: the sandbox ServiceNow over real sockets."""

from __future__ import annotations

from tests.support.sandbox import sandbox, sandbox_server

__all__ = ["sandbox", "sandbox_server"]

"""ServiceNow change request tests: the platform as processes, the sandbox ServiceNow."""

from __future__ import annotations

from tests.lifecycle.conftest import make_platform
from tests.support.sandbox import sandbox, sandbox_server

__all__ = ["make_platform", "sandbox", "sandbox_server"]

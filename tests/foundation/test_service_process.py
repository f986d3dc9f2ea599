"""A service process is ready when *it* answers ``/readyz``, not when something else on
its port does (two services once got the same port: the loser's check was answered by
the winner, and the test's requests went to the wrong service)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pao_common.settings import Settings

from tests.support.sandbox import SandboxServer
from tests.support.services import ServiceProcess, service_env

pytestmark = pytest.mark.integration


def test_a_port_answered_by_another_process_is_not_ready(tmp_path: Path) -> None:
    squatter = SandboxServer().start()  # answers /readyz with 200, in this process
    late = ServiceProcess("pao_sandbox", service_env(Settings()), tmp_path, port=squatter.port)
    try:
        with pytest.raises(RuntimeError, match="exited"):
            late.start(wait_ready_s=60)
    finally:
        late.stop()
        squatter.stop()

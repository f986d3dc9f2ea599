"""Run PAO services as real processes in tests, the way ``pao dev`` runs them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from pao_common.settings import Settings
from pao_devtools.ports import free_port


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
    env.update(
        {
            "PAO_PROFILE": settings.profile.value,
            "PAO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "PAO_DATABASE_URL": settings.database_url,
            "PAO_REDIS_URL": settings.redis_url,
            "PAO_REDIS_PREFIX": settings.redis_prefix,
            "PAO_TOPIC_SUFFIX": settings.topic_suffix,
            "PAO_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "PAO_KAFKA_LINGER_MS": str(settings.kafka_linger_ms),
            "PAO_CATALOG_DIR": str(settings.catalog_dir),
            "PAO_CATALOG_URL": settings.catalog_url,
            # The development keys the test mints tokens with (tests.support.credentials).
            "PAO_JWT_DEV_KEY_DIR": str(settings.jwt_dev_key_dir),
            "PAO_SERVICE_DEV_KEY_DIR": str(settings.service_dev_key_dir),
            "PAO_LOG_JSON": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.kafka_fetch_max_wait_ms is not None:
        env["PAO_KAFKA_FETCH_MAX_WAIT_MS"] = str(settings.kafka_fetch_max_wait_ms)
    env.update(extra)
    return env


class ServiceProcess:
    """``python -m <module> --port N`` with its output in a log file."""

    def __init__(self, module: str, env: dict[str, str], log_dir: Path, port: int | None = None):
        self.module = module
        self.env = env
        self.port = port or free_port()
        self.log_path = log_dir / f"{module}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready_s: float = 60.0) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if wait_ready_s:
            self.wait_ready(wait_ready_s)
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited: {self.log_tail()}")
            try:
                r = httpx.get(self.url + "/readyz", timeout=2)
                if r.status_code == 200 and self._listening():
                    return
                last = r.text if r.status_code != 200 else "another process answered"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise TimeoutError(f"{self.module} not ready in {timeout_s}s ({last}): {self.log_tail()}")

    def _listening(self) -> bool:
        """The answer came from this process, not from another one on the same port."""
        assert self.process is not None
        try:
            connections = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
            for c in connections
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int | None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

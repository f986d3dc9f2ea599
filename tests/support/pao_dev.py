"""``pao dev`` itself as a subprocess, on ports, a database and a directory of a test's own.

What a newcomer runs (``pao dev`` in a checkout, nothing configured: the bundled broker,
the sandbox for JIRA, GitHub, Terraform Cloud and every REST target, placeholder
secrets), with only what keeps it off other tests' toes overridden: a block of free
ports, its own database (``pao dev`` creates and migrates it), its own Redis key prefix
and its own working directory (``.pao/``: the broker log and the development signing
key ``pao token`` uses). ``PaoDev.token`` mints a user's token with that key, as
``pao token`` run in that directory would.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from pao_cli.dev import SANDBOX_PORT_OFFSET, SANDBOX_SMTP_PORT_OFFSET
from pao_common import db
from pao_common.settings import Settings
from pao_devtools.ports import free_port
from pao_gateway.devtokens import mint

# gateway, catalog, orchestrator, then the executors from base + 3 (the notifier at the
# executors' base + 7, the CMDB sync at + 15), the sandbox at + 16 and its SMTP at + 17.
NOTIFIER_PORT_OFFSET = 7
PORTS_NEEDED = 3 + SANDBOX_SMTP_PORT_OFFSET + 1


def free_port_block(size: int) -> int:
    """A base port with ``size`` free ports from it, below the kernel's ephemeral range.

    ``free_port()`` answers one port the kernel just handed out; the ports after it are
    unchecked and, inside the ephemeral range, any client socket of the running suite may
    take one before ``pao dev`` binds it (that happened: an executor found its port taken).
    """
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    pick = random.Random()
    for _ in range(200):
        base = pick.randrange(20_000, low - size)
        if all(_bindable(port) for port in range(base, base + size)):
            return base
    raise RuntimeError(f"no {size} free ports in a row below {low}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class PaoDev:
    """One ``pao dev`` run: ``start()``, talk to ``gateway_url`` / ``sandbox_url``, ``stop()``."""

    workdir: Path
    database_url: str
    redis_url: str
    redis_prefix: str
    catalog_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()  # more ``pao dev`` options (``--separate-executors``)
    base_port: int = field(default_factory=lambda: free_port_block(PORTS_NEEDED))
    broker_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "pao-dev.log"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port + 3 + SANDBOX_PORT_OFFSET}"

    @property
    def smtp_port(self) -> int:
        """The sandbox's SMTP catcher, where the notifier sends its e-mails."""
        return self.base_port + 3 + SANDBOX_SMTP_PORT_OFFSET

    @property
    def notifier_url(self) -> str:
        return f"http://127.0.0.1:{self.base_port + 3 + NOTIFIER_PORT_OFFSET}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
        env.update(
            {
                "PAO_GATEWAY_PORT": str(self.base_port),
                "PAO_CATALOG_PORT": str(self.base_port + 1),
                "PAO_ORCHESTRATOR_PORT": str(self.base_port + 2),
                "PAO_EXECUTORS_BASE_PORT": str(self.base_port + 3),
                "PAO_NOTIFIER_PORT": str(self.base_port + 3 + NOTIFIER_PORT_OFFSET),
                "PAO_DATABASE_URL": self.database_url,
                "PAO_REDIS_URL": self.redis_url,
                "PAO_REDIS_PREFIX": self.redis_prefix,
                "PAO_CATALOG_DIR": str(self.catalog_dir),
                **self.extra_env,
            }
        )
        return env

    def start(self, ready_s: float = 240.0) -> PaoDev:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pao_cli.main",
                    "dev",
                    "--broker-port",
                    str(self.broker_port),
                    *self.extra_args,
                ],
                cwd=self.workdir,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_s
        while "all ready in" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pao dev did not get ready:\n{self.log_tail()}")
            time.sleep(0.3)
        return self

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; killed if it has not stopped within a minute."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def token(
        self,
        user: str,
        *,
        teams: tuple[str, ...] = (),
        roles: tuple[str, ...] = (),
        email: str | None = None,
        name: str | None = None,
        manager: str | None = None,
    ) -> str:
        """``pao token --user ...`` in ``pao dev``'s directory: signed with its dev key."""
        settings = Settings(jwt_dev_key_dir=self.workdir / ".pao" / "dev-jwt")
        return mint(
            settings,
            user=user,
            teams=teams,
            roles=roles,
            email=email,
            name=name,
            manager=manager,
        )


@contextmanager
def running_pao_dev(
    postgres_admin_url: str,
    redis_url: str,
    workdir: Path,
    catalog_dir: Path,
    *,
    label: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[PaoDev]:
    """A started ``pao dev`` on a database (``pao_<label>_<suffix>``, created by ``pao dev``,
    dropped after) and a Redis prefix of its own; stopped when the block ends."""
    suffix = uuid.uuid4().hex[:10]
    name = f"pao_{label}_{suffix}"
    dev = PaoDev(
        workdir=workdir,
        database_url=db.with_database(postgres_admin_url, name),
        redis_url=redis_url,
        redis_prefix=f"pao-test:{label}-{suffix}:",
        catalog_dir=catalog_dir,
        extra_env=extra_env or {},
    )
    started = time.monotonic()
    dev.start()
    print(f"\npao dev ready in {time.monotonic() - started:.1f}s (log {dev.log_path})")
    try:
        yield dev
    finally:
        dev.stop()
        drop_database(postgres_admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop the database ``name`` (whoever is still connected); safe while a loop runs."""

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, drop()).result()

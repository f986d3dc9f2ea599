"""``pao dev``'s machinery: the whole platform as local processes (``pao_cli.dev`` says
which, with what environment).

The bundled broker and the embedded PostgreSQL come from this package; the services are
child processes in their own sessions, their output prefixed with their names, waited for
on ``/readyz`` and stopped with SIGTERM (SIGKILL after 15 s), then the broker and the
database. Dev-only, like the rest of ``pao_devtools``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
from pao_common import db
from pao_common.settings import KafkaSecurityProtocol, Settings

from pao_devtools.broker import BundledBroker
from pao_devtools.ports import port_open
from pao_devtools.postgres import EmbeddedPostgres

STATE_DIR = Path(".pao")
COLORS = ["36", "35", "33", "32", "34", "31", "96", "95", "93"]


@dataclass
class ServiceProcess:
    name: str
    module: str
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def say(msg: str) -> None:
    click.echo(click.style("pao dev | ", fg="white", bold=True) + msg, err=True)


class Platform:
    """The local platform as processes: the bundled broker (unless one is configured), the
    database (an embedded PostgreSQL when none answers), Redis if reachable, and
    ``services``, each ``python -m <module> --port <port>`` in its own session with its
    output prefixed by its name. ``env`` is what the services are started with."""

    def __init__(
        self, settings: Settings, *, broker_port: int, services: list[ServiceProcess]
    ) -> None:
        self.settings = settings
        self.broker_port = broker_port
        self.broker: BundledBroker | None = None
        self.embedded_pg: EmbeddedPostgres | None = None
        self.services = services
        self.env: dict[str, str] = {}
        self._pumps: list[asyncio.Task[None]] = []

    # --- infrastructure -----------------------------------------------------------------

    def start_broker(self) -> str:
        if os.environ.get("PAO_KAFKA_BOOTSTRAP"):
            say(f"using broker {self.settings.kafka_bootstrap}")
            return self.settings.kafka_bootstrap
        protocol = self.settings.kafka_security_protocol
        if protocol is not KafkaSecurityProtocol.PLAINTEXT:
            # The services would offer TLS / SASL to a broker that speaks neither.
            raise click.ClickException(
                f"PAO_KAFKA_SECURITY_PROTOCOL={protocol} needs PAO_KAFKA_BOOTSTRAP: the bundled"
                " broker speaks PLAINTEXT only (docs/kafka-security.md)"
            )
        self.broker = BundledBroker(self.broker_port, log_path=STATE_DIR / "broker.log")
        self.broker.start()
        say(f"started bundled broker (tansu, in memory) on {self.broker.bootstrap}")
        return self.broker.bootstrap

    async def prepare_database(self) -> str:
        url = self.settings.database_url
        try:
            created = await db.ensure_database(url)
            if created:
                say(f"created database {db.database_name(url)}")
        except (OSError, ConnectionError) as exc:
            say(f"no PostgreSQL at {url} ({exc.__class__.__name__}); starting embedded PostgreSQL")
            url = await asyncio.to_thread(self._start_embedded_postgres)
            await db.ensure_database(url)
        applied = await db.migrate(url)
        say(f"database {db.database_name(url)}: {len(applied)} migration(s) applied")
        return url

    def _start_embedded_postgres(self) -> str:
        self.embedded_pg = EmbeddedPostgres(STATE_DIR / "pgdata")
        return db.with_database(self.embedded_pg.start(), "pao")

    async def redis_url(self) -> str:
        url = self.settings.redis_url
        if not url:
            return ""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            await client.ping()
            return url
        except Exception:
            say(f"Redis at {url} not reachable: running without a cache")
            return ""
        finally:
            await client.aclose()

    # --- services -----------------------------------------------------------------------

    async def start_services(self) -> None:
        for index, svc in enumerate(self.services):
            if port_open("127.0.0.1", svc.port):
                raise click.ClickException(f"port {svc.port} for {svc.name} is already in use")
            env = self.env
            svc.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                svc.module,
                "--port",
                str(svc.port),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            self._pumps.append(asyncio.create_task(self._pump(svc, COLORS[index % len(COLORS)])))

    async def _pump(self, svc: ServiceProcess, color: str) -> None:
        assert svc.process is not None and svc.process.stdout is not None
        prefix = (
            f"\x1b[{color}m{svc.name:>14} |\x1b[0m "
            if sys.stdout.isatty()
            else f"{svc.name:>14} | "
        )
        while line := await svc.process.stdout.readline():
            sys.stdout.write(prefix + line.decode("utf-8", "replace"))
            sys.stdout.flush()

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = {svc.name: svc for svc in self.services}
        async with httpx.AsyncClient(timeout=2.0) as client:
            while pending:
                for name, svc in list(pending.items()):
                    if svc.process is not None and svc.process.returncode is not None:
                        raise click.ClickException(f"{name} exited with {svc.process.returncode}")
                    try:
                        if (await client.get(svc.url + "/readyz")).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    raise click.ClickException(
                        f"not ready after {timeout_s:.0f}s: {sorted(pending)}"
                    )
                await asyncio.sleep(0.2)

    async def watch(self, stop: asyncio.Event) -> None:
        waits = [asyncio.create_task(svc.process.wait()) for svc in self.services if svc.process]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        for task in [stopper, *waits]:
            task.cancel()
        if stopper not in done:
            crashed = [
                s.name for s in self.services if s.process and s.process.returncode is not None
            ]
            say(click.style(f"{', '.join(crashed)} exited; stopping the platform", fg="red"))

    async def stop(self) -> None:
        running = [s for s in self.services if s.process and s.process.returncode is None]
        for svc in running:
            assert svc.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(svc.process.pid, signal.SIGTERM)
        for svc in running:
            assert svc.process is not None
            try:
                await asyncio.wait_for(svc.process.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(svc.process.pid, signal.SIGKILL)
                await svc.process.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
            say("broker stopped")
        if self.embedded_pg is not None:
            await asyncio.to_thread(self.embedded_pg.stop)
            say("embedded PostgreSQL stopped")

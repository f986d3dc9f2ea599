"""Resource list benchmark: ``python -m tests.bench.resources [--rate 200 --duration 20]``.

On a fresh database of its own (the project's migrations applied), inserts 100,000
resources into ``resource_view`` (the orchestrator's read model, which the gateway reads)
with COPY: 50 teams, several catalog items, mixed statuses, creation times spread over a
year. Starts a fresh platform as real processes (its own bundled broker; catalog,
gateway, orchestrator, debug executor) and from this process drives
``GET /api/v1/resources`` at a fixed arrival rate (open loop: request *n* is sent at
``start + n / rate`` whatever happened to the earlier ones, and its latency counts from
that planned instant), alternating the first page and a later page reached by its
keyset cursor:

- a member of one team listing ``?team=<team>`` (2,000 of the 100,000 rows are theirs);
- a platform admin listing everything (no filter).

Prints p50 / p99 / max latency and the achieved rate per kind of request, and the CPU
time the gateway and the database's backends spent per request.

Target on the 2-core dev machine: p99 under 50 ms at 200 requests/s. Measures and
prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import h11
from pao_common import db
from pao_common.messages import PLATFORM_ADMIN
from pao_devtools.broker import BundledBroker
from pao_devtools.ports import free_port
from pao_orchestrator.adapters.postgres import RESOURCE_VIEW_COLUMNS

from tests.bench.lifecycle import (
    CpuMeter,
    bench_server,
    cancelled_by_sigterm,
    database_backends,
    drop_database,
    migrated_database,
    open_loop,
    platform_settings,
)
from tests.bench.loadgen import LoadClient
from tests.support.credentials import user_token
from tests.support.platform import Platform

RESOURCES = 100_000
TEAMS = [f"team-{n:02d}" for n in range(50)]
ITEMS: dict[str, tuple[str, Callable[[random.Random], dict[str, Any]]]] = {
    "postgres-database": ("1.4.0", lambda rng: {"size": rng.choice(["small", "medium"])}),
    "kubernetes-namespace": ("2.1.0", lambda rng: {"cluster": rng.choice(["eu-1", "us-2"])}),
    "dns-record": ("1.0.3", lambda rng: {"type": rng.choice(["A", "CNAME"]), "ttl": 300}),
    "firewall-change": ("1.2.0", lambda rng: {"port": rng.choice([443, 5432, 8080])}),
    "s3-bucket": ("1.1.0", lambda rng: {"versioning": rng.random() < 0.5}),
    "redis-cache": ("0.9.2", lambda rng: {"memory_mb": rng.choice([256, 1024])}),
}
# Most of what a ledger holds is live; some is gone, a little is in flight or broken.
STATUSES = [
    ("active", 70),
    ("decommissioned", 15),
    ("provisioning", 4),
    ("updating", 4),
    ("decommissioning", 3),
    ("failed", 4),
]
COLUMNS = RESOURCE_VIEW_COLUMNS  # the orchestrator's resource_view columns, in order


def resource_rows(count: int, seed: int = 5) -> list[tuple[Any, ...]]:
    """``count`` rows for ``resource_view`` in ``COLUMNS`` order (JSON columns as text)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    statuses = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    items = list(ITEMS)
    rows = []
    for n in range(count):
        item_id = items[n % len(items)]
        version, inputs_of = ITEMS[item_id]
        team = TEAMS[n % len(TEAMS)]
        requester = f"user-{team[-2:]}-{rng.randint(0, 9)}"
        status = rng.choices(statuses, weights)[0]
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        updated = created + timedelta(seconds=rng.uniform(0, 30 * 86400))
        name = f"{item_id.split('-')[0]}-{team}-{n:06d}"
        inputs = {"name": name, **inputs_of(rng)}
        outputs = {"endpoint": f"{name}.internal", "credentials": f"secret://pao/{name}"}
        request_id = str(uuid.UUID(int=rng.getrandbits(128)))
        history = [
            {
                "request_id": request_id,
                "operation": "provision",
                "status": "completed",
                "submitted_at": created.isoformat(),
                "ended_at": created.isoformat(),
            }
        ]
        running = status in ("provisioning", "updating", "decommissioning")
        operation = {"updating": "update", "decommissioning": "decommission"}.get(status)
        rows.append(
            (
                f"res-{n:06d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}",
                item_id,
                version,
                name,
                team,
                requester,
                status,
                json.dumps(inputs),
                json.dumps(outputs if status != "provisioning" else {}),
                json.dumps(history),
                request_id if running else None,
                (operation or "provision") if running else None,
                "step apply failed: quota exceeded" if status == "failed" else None,
                len(history) + (1 if status != "provisioning" else 0),
                created,
                updated,
                updated if status == "decommissioned" else None,
            )
        )
    return rows


async def insert_resources(url: str, count: int) -> float:
    """Insert ``count`` resources with COPY; the seconds it took."""
    rows = resource_rows(count)
    started = time.monotonic()
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("resource_view", records=rows, columns=COLUMNS)
        await conn.execute("ANALYZE resource_view")
    finally:
        await conn.close()
    return time.monotonic() - started


@dataclass
class Kind:
    name: str
    path: str
    latencies_ms: list[float] = field(default_factory=list)
    first: float = float("inf")
    last: float = 0.0
    errors: int = 0
    first_error: str = ""

    def report(self) -> str:
        lat = sorted(self.latencies_ms)
        n = len(lat)
        if not n:
            return f"    {self.name:22s} no answers (errors {self.errors}: {self.first_error})"
        rate = n / (self.last - self.first) if self.last > self.first else float("nan")
        errors = f" (errors {self.errors}: {self.first_error})" if self.errors else ""
        return (
            f"    {self.name:22s} {n:5d} answered{errors}, p50 {lat[n // 2]:6.1f} ms, "
            f"p99 {lat[min(n - 1, int(n * 0.99))]:6.1f} ms, max {lat[-1]:6.1f} ms, "
            f"achieved {rate:6.1f}/s"
        )


async def cursor_path(client: LoadClient, first: str, pages: int) -> str:
    """The path of page ``pages + 1`` of the list at ``first``, following its next links."""
    path = first
    for _ in range(pages):
        answer = await client.get(path)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:200]}")
        following = answer.json()["next"]
        if following is None:
            raise RuntimeError(f"GET {path}: no next page (too few resources for {pages} pages)")
        url = urlsplit(following)
        path = f"{url.path}?{url.query}"
    return path


def sender(client: LoadClient, kinds: list[Kind]) -> Callable[[int, float], Awaitable[None]]:
    async def send(n: int, planned: float) -> None:
        kind = kinds[n % len(kinds)]
        try:
            answer = await asyncio.wait_for(client.get(kind.path), 30)
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            kind.errors += 1
            kind.first_error = kind.first_error or repr(exc)
            return
        done = time.monotonic()
        if answer.status_code != 200 or len(answer.json()["items"]) != 50:
            kind.errors += 1
            kind.first_error = kind.first_error or f"{answer.status_code} {answer.text[:200]}"
            return
        kind.latencies_ms.append((done - planned) * 1000)
        kind.first = min(kind.first, planned)
        kind.last = max(kind.last, done)

    return send


async def drive(
    platform: Platform,
    who: str,
    token: str,
    first: str,
    rate: int,
    duration_s: float,
    meter: CpuMeter,
) -> None:
    assert platform.gateway is not None
    client = LoadClient(platform.gateway.url, {"Authorization": f"Bearer {token}"}, 64)
    try:
        later = await cursor_path(client, first, pages=10)
        kinds = [Kind("first page", first), Kind("page 11 (keyset cursor)", later)]
        await open_loop(20, 2, sender(client, [Kind("warm-up", first), Kind("warm-up", later)]))
        meter.start()
        await open_loop(rate, duration_s, sender(client, kinds))
        spent = meter.stop()
    finally:
        await client.aclose()
    total = sum(len(k.latencies_ms) for k in kinds)
    whole = Kind("all", first, sorted(lat for k in kinds for lat in k.latencies_ms))
    whole.first = min(k.first for k in kinds)
    whole.last = max(k.last for k in kinds)
    whole.errors = sum(k.errors for k in kinds)
    whole.first_error = next((k.first_error for k in kinds if k.first_error), "")
    print(f"  {who}: GET {first} at {rate}/s x {duration_s:.0f}s", flush=True)
    for kind in [*kinds, whole]:
        print(kind.report(), flush=True)
    if total:
        per = {name: 1000 * s / total for name, s in spent.items()}
        print(
            "    CPU per request: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per.items()),
            f"(machine load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )


async def run(rate: int, duration_s: float, count: int) -> None:
    broker = BundledBroker(free_port())
    broker.start()
    url = await migrated_database(bench_server())
    work = Path(tempfile.mkdtemp(prefix="pao-bench-resources-"))
    settings = platform_settings(broker.bootstrap, url)
    platform = Platform(settings=settings, log_dir=work, with_gateway=True, log_level="WARNING")
    starting = asyncio.ensure_future(asyncio.to_thread(platform.start))
    try:
        seconds = await insert_resources(url, count)
        print(
            f"inserted {count} resources ({len(TEAMS)} teams, {len(ITEMS)} items) with COPY "
            f"in {seconds:.1f} s; fresh platform (catalog, gateway, orchestrator, debug "
            f"executor as processes), logs in {work}",
            flush=True,
        )
        await asyncio.shield(starting)
        assert platform.gateway is not None and platform.gateway.process is not None
        gateway_pid = platform.gateway.process.pid
        meter = CpuMeter(
            {
                "gateway": lambda: [gateway_pid],
                "postgres": database_backends(db.database_name(url)),
                "bench client": lambda: [os.getpid()],
            }
        )
        team = TEAMS[7]
        member = user_token(platform.settings, "bench-member", teams=[team])
        admin = user_token(platform.settings, "bench-admin", roles=[PLATFORM_ADMIN])
        path = "/api/v1/resources"
        await drive(
            platform, f"member of {team}", member, f"{path}?team={team}", rate, duration_s, meter
        )
        await drive(platform, "platform admin", admin, path, rate, duration_s, meter)
    finally:
        await asyncio.gather(starting, return_exceptions=True)
        await asyncio.to_thread(platform.stop)
        broker.stop()
        await drop_database(url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.resources")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--resources", type=int, default=RESOURCES)
    # Through ``python -m tests.bench resources`` the benchmark names are in argv too.
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(cancelled_by_sigterm(run(args.rate, args.duration, args.resources)))
    except asyncio.CancelledError:
        sys.exit("benchmark stopped by SIGTERM; platform stopped, database dropped")


if __name__ == "__main__":
    main()

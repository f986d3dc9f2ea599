"""Catalog browse benchmark: ``python -m tests.bench.catalog [--rate 500 --duration 20]``.

Generates 1,000 catalog items into a temporary directory, starts the catalog service
as its own process (real HTTP, uvicorn, its own broker and a throw-away database), and
from ANOTHER process drives list, item and form requests at a fixed arrival rate
(open loop: request *n* is sent at ``start + n / rate`` whether or not earlier ones have
answered, and its latency counts from that planned instant, so a stalled server shows
up as latency instead of as a politely slowed client). Prints p50 / p99 / max latency
and achieved throughput per request kind.

Target on the 2-core dev machine: p99 under 10 ms at 500 requests/s.

The load generator speaks HTTP/1.1 over keep-alive sockets itself (asyncio streams):
a full client library would spend more CPU per request than the server does, on the
same two cores, and measure itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from pao_common import db
from pao_devtools.broker import BundledBroker
from pao_devtools.ports import free_port

from tests.catalog_service.documents import item_document

CATEGORIES = ["databases", "compute", "network", "storage", "security", "observability"]
OWNERS = [f"team-{n}" for n in ("data", "platform", "net", "sec", "obs", "apps", "ml", "web")]
TAGS = ["postgres", "mysql", "redis", "kafka", "k8s", "dns", "vpn", "s3", "gpu", "prod", "dev"]
WORDS = ["managed", "replicated", "private", "shared", "fast", "cheap", "regional", "global"]


# --- the catalog ------------------------------------------------------------------------


def generate_items(directory: Path, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    ids = []
    for n in range(count):
        item_id = f"item-{n:04d}"
        doc = item_document(
            item_id,
            version=f"1.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            name=f"{rng.choice(WORDS).title()} service {n}",
            category=rng.choice(CATEGORIES),
            owner=rng.choice(OWNERS),
            tags=sorted(rng.sample(TAGS, 3)),
            description=" ".join(rng.choices(WORDS, k=12)),
        )
        (directory / f"{item_id}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        ids.append(item_id)
    return ids


def request_plan(ids: Sequence[str], count: int, seed: int = 11) -> list[tuple[str, str]]:
    """``(kind, path)`` for each request: list / item / form in turn, varied parameters."""
    rng = random.Random(seed)
    lists = [
        "/api/v1/catalog/items?limit=20",
        "/api/v1/catalog/items?limit=50&offset=200",
        "/api/v1/catalog/items?category=databases&limit=20",
        "/api/v1/catalog/items?tag=k8s&tag=prod",
        "/api/v1/catalog/items?owner=team-data&limit=10",
        "/api/v1/catalog/items?q=managed+regional&limit=20",
    ]
    plan = []
    for n in range(count):
        kind = ("list", "item", "form")[n % 3]
        if kind == "list":
            path = rng.choice(lists)
        elif kind == "item":
            path = f"/api/v1/catalog/items/{rng.choice(ids)}"
        else:
            path = f"/api/v1/catalog/items/{rng.choice(ids)}/form"
        plan.append((kind, path))
    return plan


# --- the load generator (runs in its own process) -----------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self, host: str, path: str) -> tuple[int, int]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return status, len(body)


# What a failed request raises (a closed keep-alive socket, a garbled answer).
_BROKEN = (OSError, ConnectionError, asyncio.IncompleteReadError)


class Connections:
    """Kept-alive connections to ``host:port``, used first in, first out: every
    connection stays busy, none idles into the server's keep-alive timeout."""

    def __init__(self, host_port: str) -> None:
        self.host_port = host_port
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.idle: deque[Connection] = deque()

    async def connect(self) -> Connection:
        return Connection(*await asyncio.open_connection(self.host, self.port))

    async def open(self, count: int) -> None:
        for _ in range(count):
            self.idle.append(await self.connect())

    async def get(self, path: str) -> tuple[int, int]:
        """``(status, body length)`` of ``GET path`` on an idle connection (reconnecting
        once, as clients do, if the server closed it)."""
        conn = self.idle.popleft() if self.idle else None
        try:
            try:
                if conn is None:
                    raise ConnectionError("no idle connection")
                status, size = await conn.get(self.host_port, path)
            except _BROKEN:
                if conn is not None:
                    conn.writer.close()
                conn = await self.connect()
                status, size = await conn.get(self.host_port, path)
        except (*_BROKEN, ValueError):
            if conn is not None:
                conn.writer.close()
            raise
        self.idle.append(conn)
        return status, size

    def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def failed(self, kind: str, reason: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def answered(self, kind: str, status: int, size: int, latency: float) -> None:
        if status != 200:
            self.failed(kind, f"HTTP {status}")
        self.latencies.setdefault(kind, []).append(latency)
        self.bytes[kind] = self.bytes.get(kind, 0) + size


async def drive(
    url: str, plan: list[tuple[str, str]], rate: float, warmup: int, connections: int
) -> dict[str, Any]:
    pool = Connections(url.removeprefix("http://"))
    await pool.open(connections)
    samples = Samples()
    late_starts = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int, planned: float, kind: str, path: str) -> None:
        try:
            status, size = await pool.get(path)
        except (*_BROKEN, ValueError) as exc:
            if n >= warmup:
                samples.failed(kind, repr(exc))
            return
        done = time.perf_counter()
        if n >= warmup:
            samples.answered(kind, status, size, done - planned)

    interval = 1.0 / rate
    start = time.perf_counter() + 0.05
    measured_start = start + warmup * interval
    for n, (kind, path) in enumerate(plan):
        planned = start + n * interval
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.001:
            late_starts += 1
        task = asyncio.create_task(one(n, planned, kind, path))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)
    finished = time.perf_counter()
    pool.close()
    return {
        "latencies": samples.latencies,
        "errors": samples.errors,
        "reasons": samples.reasons,
        "bytes": samples.bytes,
        "elapsed_s": finished - measured_start,
        "late_starts": late_starts,
    }


def drive_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--ids", required=True, help="file with one item id a line")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    ids = Path(args.ids).read_text().split()
    warmup = int(args.warmup * args.rate)
    plan = request_plan(ids, warmup + int(args.duration * args.rate))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(drive(args.url, plan, args.rate, warmup, args.connections))
    json.dump(result, sys.stdout)


# --- the orchestration ---------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def report(result: dict[str, Any], rate: float) -> list[str]:
    lines = [
        f"{'kind':<6} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'req/s':>8} {'avg KB':>7}"
    ]
    elapsed = result["elapsed_s"]
    everything: list[float] = []
    for kind in ("list", "item", "form"):
        values = sorted(result["latencies"].get(kind, []))
        everything.extend(values)
        errors = result["errors"].get(kind, 0)
        kb = result["bytes"].get(kind, 0) / max(1, len(values)) / 1024
        lines.append(
            f"{kind:<6} {len(values):>8} {errors:>6} {percentile(values, 50) * 1e3:>8.2f} "
            f"{percentile(values, 90) * 1e3:>8.2f} {percentile(values, 99) * 1e3:>8.2f} "
            f"{(values[-1] if values else float('nan')) * 1e3:>8.2f} "
            f"{len(values) / elapsed:>8.1f} {kb:>7.1f}"
        )
    everything.sort()
    errors = sum(result["errors"].values())
    lines.append(
        f"{'all':<6} {len(everything):>8} {errors:>6} {percentile(everything, 50) * 1e3:>8.2f} "
        f"{percentile(everything, 90) * 1e3:>8.2f} {percentile(everything, 99) * 1e3:>8.2f} "
        f"{everything[-1] * 1e3:>8.2f} {len(everything) / elapsed:>8.1f}"
    )
    for reason, count in result.get("reasons", {}).items():
        lines.append(f"error: {count} x {reason}")
    p99 = percentile(everything, 99) * 1e3
    verdict = "MET" if p99 < 10 and errors == 0 else "MISSED"
    lines.append(
        f"target p99 < 10 ms at {rate:.0f} req/s: {verdict} (p99 {p99:.2f} ms, "
        f"{result['late_starts']} sends started >1 ms late by the generator)"
    )
    return lines


async def _create_database(admin_url: str) -> str:
    url = db.with_database(admin_url, f"pao_bench_{uuid.uuid4().hex[:10]}")
    await db.ensure_database(url)
    await db.migrate(url)
    return url


async def _drop_database(admin_url: str, url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db.database_name(url)}" WITH (FORCE)')
    finally:
        await conn.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_pressure_us() -> int | None:
    """Microseconds so far in which some task waited for a CPU (Linux PSI), if known."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first.rsplit("total=", 1)[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"catalog exited: {log.read_text()[-3000:]}")
        with suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"catalog not ready in {timeout_s}s: {log.read_text()[-3000:]}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.catalog")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--admin-database-url",
        default=os.environ.get(
            "PAO_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args(argv or [])

    with tempfile.TemporaryDirectory(prefix="pao-bench-catalog-") as tmp:
        root = Path(tmp)
        catalog_dir = root / "catalog"
        catalog_dir.mkdir()
        t0 = time.perf_counter()
        ids = generate_items(catalog_dir, args.items)
        print(f"generated {len(ids)} items in {time.perf_counter() - t0:.2f} s", flush=True)
        (root / "ids.txt").write_text("\n".join(ids))

        broker: BundledBroker | None = None
        bootstrap = os.environ.get("PAO_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = BundledBroker(free_port())
            broker.start()
            bootstrap = broker.bootstrap
        database_url = asyncio.run(_create_database(args.admin_database_url))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAO_")}
        env.update(
            PAO_PROFILE="local",
            PAO_KAFKA_BOOTSTRAP=bootstrap,
            PAO_DATABASE_URL=database_url,
            PAO_REDIS_URL="",
            PAO_CATALOG_DIR=str(catalog_dir),
            PAO_LOG_LEVEL="WARNING",
            PAO_TOPIC_SUFFIX=f".bench-{uuid.uuid4().hex[:6]}",
        )
        log = root / "catalog.log"
        with log.open("wb") as out:
            service = subprocess.Popen(
                [sys.executable, "-m", "pao_catalog", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            ready_s = _wait_ready(url, service, log, timeout_s=180)
            listed = httpx.get(url + "/api/v1/catalog/items?limit=1", timeout=5).json()
            print(
                f"catalog service ready in {ready_s:.2f} s serving {listed['total']} items "
                f"(pid {service.pid}, {url})",
                flush=True,
            )
            print(
                f"driving {args.rate:.0f} req/s for {args.duration:.0f} s "
                f"(+{args.warmup:.0f} s warm-up) from another process...",
                flush=True,
            )
            load_before = os.getloadavg()[0]
            pressure_before = _cpu_pressure_us()
            wall_before = time.monotonic()
            cpu_before = _cpu_seconds(service.pid)
            driver = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.catalog",
                    "--drive",
                    "--url",
                    url,
                    "--ids",
                    str(root / "ids.txt"),
                    "--rate",
                    str(args.rate),
                    "--duration",
                    str(args.duration),
                    "--warmup",
                    str(args.warmup),
                    "--connections",
                    str(args.connections),
                ],
                capture_output=True,
                check=True,
            )
            cpu = _cpu_seconds(service.pid) - cpu_before
            load_after = os.getloadavg()[0]
            pressure_after = _cpu_pressure_us()
            wall = time.monotonic() - wall_before
            result = json.loads(driver.stdout)
            for line in report(result, args.rate):
                print(line, flush=True)
            served = int(args.rate * args.warmup) + int(args.rate * args.duration)
            print(
                f"server CPU {cpu:.2f} s for {served} requests (warm-up included): "
                f"{cpu / served * 1e6:.0f} us per request, "
                f"{cpu / (args.duration + args.warmup) * 100:.0f}% of one core; "
                f"machine load average {load_before:.2f} before, {load_after:.2f} after "
                f"({os.cpu_count()} cores, shared with whatever else runs)",
                flush=True,
            )
            if pressure_before is not None and pressure_after is not None:
                waited = (pressure_after - pressure_before) / 1e6 / wall * 100
                print(
                    f"CPU pressure during the run: some task waited for a CPU {waited:.0f}% "
                    "of the time (PSI; 0% = the machine had a free core throughout)",
                    flush=True,
                )
        finally:
            service.terminate()
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
            asyncio.run(_drop_database(args.admin_database_url, database_url))
            if broker is not None:
                broker.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        drive_main(sys.argv[2:])
    else:
        main(sys.argv[1:])

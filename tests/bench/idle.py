"""Idle cost benchmark: ``python -m tests.bench idle`` (or ``python -m tests.bench.idle
[--idle 60] [--tries 5] [--settle 15]``).

Starts ``pao dev`` itself (``tests.support.pao_dev``: the bundled broker, every service
as its own process, the sandbox; free ports, a throw-away database and Redis prefix of
its own), waits until it is ready, sends one request (the first one pays for first times:
token, caches, connections) and lets it settle, then, with no other request:

1. the CPU time (``/proc/<pid>/stat`` utime + stime) every process of the platform spent
   over ``--idle`` seconds: ``pao dev`` itself, the broker, each service, and the
   PostgreSQL backends serving its database (``pg_stat_activity``), printed per process
   as a share of one core, with the total;
2. ``--tries`` times: idle ``--idle`` seconds, submit one ``debug-echo`` request over HTTP
   and time it from the submit to the gateway reading it ``completed`` (polled every
   10 ms), with the orchestrator's own ``completed_at - submitted_at`` beside it; then
   one more at once (nothing idle), for what the machine's load costs at that moment.

Targets (issue #16), on the 2-core dev machine: the whole idle platform at most 0.15 of a
core over 60 s; the first request after 60 s idle completed within 1 s. CPU time is
what each process spent, so it hardly depends on how busy the machine is; the latency
does. Measures and prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
from pao_common import db

from tests.bench.lifecycle import cpu_seconds
from tests.support.pao_dev import PaoDev

REPO = Path(__file__).resolve().parents[2]
POLL_S = 0.01


@dataclass(frozen=True)
class Proc:
    pid: int
    name: str


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (``/proc/<pid>/stat``'s parent pid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def process_name(pid: int) -> str:
    """``pao dev``, ``broker`` or the module a ``python -m`` process runs."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"pid {pid}"
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        module = argv[argv.index("-m") + 1]
        return "pao dev" if module == "pao_cli.main" else module
    if argv and "tansu" in Path(argv[0]).name:
        return "broker (tansu)"
    return Path(argv[0]).name if argv else f"pid {pid}"


async def database_backends(admin_url: str, database: str) -> list[int]:
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


async def platform_processes(dev: PaoDev, admin_url: str, database: str) -> list[Proc]:
    assert dev.process is not None
    procs = [Proc(pid, process_name(pid)) for pid in descendants(dev.process.pid)]
    backends = await database_backends(admin_url, database)
    return procs + [Proc(pid, "postgres backend") for pid in backends]


async def measure_idle(dev: PaoDev, admin_url: str, database: str, idle_s: float) -> float:
    """CPU per process over ``idle_s`` with nothing asked; prints it; returns the total
    share of a core."""
    procs = await platform_processes(dev, admin_url, database)
    before = {p: cpu_seconds(p.pid) for p in procs}
    started = time.monotonic()
    await asyncio.sleep(idle_s)
    elapsed = time.monotonic() - started
    # Backends that came meanwhile count from zero (a connection opened while idle).
    later = await platform_processes(dev, admin_url, database)
    for p in later:
        before.setdefault(p, 0.0)
    spent = {p: max(0.0, cpu_seconds(p.pid) - start) for p, start in before.items()}
    print(f"idle {elapsed:.0f} s, CPU per process (share of one core):", flush=True)
    backends = {p: s for p, s in spent.items() if p.name == "postgres backend"}
    for p, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        if p.name != "postgres backend":
            print(f"  {p.name:<30} pid {p.pid:<8} {s:6.2f} s  {100 * s / elapsed:6.2f} %")
    pg = sum(backends.values())
    print(
        f"  {'postgres backends (' + str(len(backends)) + ')':<30} {'':12} {pg:6.2f} s"
        f"  {100 * pg / elapsed:6.2f} %"
    )
    total = sum(spent.values()) / elapsed
    print(f"  {'total':<30} {'':12} {sum(spent.values()):6.2f} s  {100 * total:6.2f} %")
    return total


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.0f} ms"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Try:
    total_s: float  # submit to the gateway reading it completed
    submit_s: float  # the submit's answer (202)
    server_s: float | None  # the orchestrator's completed_at - submitted_at


async def first_request(client: httpx.AsyncClient, token: str) -> Try:
    """Submit ``debug-echo``; time until the gateway reads it completed."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"item_id": "debug-echo", "inputs": {"message": "after idle"}}
    started = time.monotonic()
    response = await client.post("/api/v1/requests", json=body, headers=headers)
    if response.status_code != 202:
        raise RuntimeError(f"submit answered {response.status_code}: {response.text}")
    request_id = response.json()["id"]
    submitted = time.monotonic() - started
    while time.monotonic() - started < 60:
        view = (await client.get(f"/api/v1/requests/{request_id}", headers=headers)).json()
        if view["status"] == "completed":
            elapsed = time.monotonic() - started
            server = None
            if view.get("completed_at") and view.get("submitted_at"):
                server = (
                    _parse_time(view["completed_at"]) - _parse_time(view["submitted_at"])
                ).total_seconds()
            return Try(elapsed, submitted, server)
        if view["status"] in {"failed", "rolled_back", "cancelled", "rejected"}:
            raise RuntimeError(f"request {request_id} ended {view['status']}: {view}")
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"request {request_id} not completed within 60 s")


async def run(
    idle_s: float,
    tries: int,
    settle_s: float,
    *,
    env: dict[str, str] | None = None,
    dev_args: tuple[str, ...] = (),
) -> None:
    admin_url = os.environ.get(
        "PAO_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    suffix = uuid.uuid4().hex[:8]
    database = f"pao_bench_idle_{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="pao-bench-idle-"))
    dev = PaoDev(
        workdir=workdir,
        database_url=db.with_database(admin_url, database),
        redis_url=os.environ.get("PAO_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_prefix=f"pao-bench:idle-{suffix}:",
        catalog_dir=REPO / "catalog",
        extra_env=env or {},
        extra_args=dev_args,
    )
    try:
        started = time.monotonic()
        await asyncio.to_thread(dev.start)
        print(f"pao dev ready in {time.monotonic() - started:.1f} s (logs {dev.log_path})")
        token = dev.token("bench-idle", teams=("platform",))
        times: list[Try] = []
        hot: list[Try] = []
        async with httpx.AsyncClient(base_url=dev.gateway_url, timeout=30) as client:
            # The very first request pays for first times (the token's verification, the
            # item's versions, connections): not what idling costs.
            first = await first_request(client, token)
            print(
                f"first request after start: {1000 * first.total_s:.0f} ms (submit answered "
                f"in {1000 * first.submit_s:.0f} ms); settling {settle_s:.0f} s",
                flush=True,
            )
            await asyncio.sleep(settle_s)
            await measure_idle(dev, admin_url, database, idle_s)
            for n in range(tries):
                if n:  # the first try follows the measured idle period
                    await asyncio.sleep(idle_s)
                done = await first_request(client, token)
                times.append(done)
                # The same again at once, nothing idle: what the machine's load costs now.
                again = await first_request(client, token)
                hot.append(again)
                print(
                    f"  try {n + 1}: after {idle_s:.0f} s idle, submit-to-completed "
                    f"{1000 * done.total_s:.0f} ms (submit answered in "
                    f"{1000 * done.submit_s:.0f} ms; orchestrator's completed_at - "
                    f"submitted_at {_ms(done.server_s)}); the next one at once "
                    f"{1000 * again.total_s:.0f} ms (orchestrator's {_ms(again.server_s)})",
                    flush=True,
                )
        if times:
            ms = sorted(1000 * t.total_s for t in times)
            print(
                f"first request after {idle_s:.0f} s idle, {len(ms)} tries: "
                + ", ".join(f"{1000 * t.total_s:.0f}" for t in times)
                + f" ms (median {ms[len(ms) // 2]:.0f}, max {ms[-1]:.0f}); the next one at "
                "once: " + ", ".join(f"{1000 * t.total_s:.0f}" for t in hot) + " ms",
                flush=True,
            )
    finally:
        await asyncio.to_thread(dev.stop)
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.idle")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds (default 60)")
    parser.add_argument("--tries", type=int, default=5, help="first requests after idle")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after ready")
    parser.add_argument(
        "--env", action="append", default=[], metavar="PAO_X=V", help="for pao dev (repeat)"
    )
    parser.add_argument(
        "--separate-executors", action="store_true", help="pao dev --separate-executors"
    )
    # Through ``python -m tests.bench idle`` the benchmark names are in argv too.
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    env = dict(item.split("=", 1) for item in args.env)
    dev_args = ("--separate-executors",) if args.separate_executors else ()
    asyncio.run(run(args.idle, args.tries, args.settle, env=env, dev_args=dev_args))


if __name__ == "__main__":
    main()

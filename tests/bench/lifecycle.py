"""Request lifecycle benchmark: ``python -m tests.bench lifecycle`` (or ``python -m
tests.bench.lifecycle [--quick] [--rates 50,100,200] [--duration 30] [--no-dbos]``).

For each rate, starts a fresh platform as real processes (its own bundled broker and a
throw-away database; catalog, gateway, orchestrator, debug executor) and from this process
submits ``debug-echo`` requests over HTTP to the gateway at fixed arrival rates
(open loop: request *n* is sent at ``start + n / rate`` whatever happened to the
earlier ones, and its latency counts from that planned instant). Completion is
observed on ``pao.requests.events`` (bare aiokafka). Prints submit-to-completed
p50 / p99, the sustained completion throughput and the CPU time each process spent per
completed request (a figure that does not depend on how busy the machine was).

In the same run, the raw floor: the same number of Kafka hops as a ``debug-echo``
request takes (gateway -> commands -> orchestrator -> actions -> executor -> results
-> orchestrator -> request events -> observer: 4 topics) relayed by bare aiokafka
relays in a process of their own, with the same client settings (fetch_max_wait_ms,
linger, acks), at the same rate on a fresh broker once the platform has stopped. Prints
the ratio of PAO's p50 to the floor's.

In the same run too, on the same PostgreSQL with a database of its own, a peer: what a
team might pick instead, a DBOS (PyPI ``dbos``) workflow of one step that echoes the
message, started at the same rate in a process of its own and timed from its planned
start to its result (``tests.bench.dbos_peer``); CPU of that process and of its
database's backends. PostgreSQL's CPU is counted per database (the backends whose
title names it) plus the server's own processes (``pg server``: WAL writer,
checkpointer...), so other databases on a shared server do not count.

With two rates or more, each system's CPU is also split into a fixed part (what it costs
whatever the load: on the bundled broker, mostly its consumers' polls) and the work each
request adds, fitted over the rates it kept up with (``fixed_and_work``).

Measures and prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import h11
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pao_common import db
from pao_common.kafka import ensure_topics
from pao_common.settings import Profile, Settings
from pao_devtools.broker import BundledBroker
from pao_devtools.ports import free_port

from tests.bench.loadgen import LoadClient
from tests.support.platform import Platform
from tests.support.services import ServiceProcess

HOPS = 4
FLOOR_TOPICS = [f"bench.floor.hop{n}" for n in range(HOPS)]


def client_settings(settings: Settings) -> dict[str, object]:
    """What PAO's clients use (``pao_common.kafka.create_broker`` / ``subscribe``)."""
    return {"fetch_max_wait_ms": settings.fetch_max_wait_ms}


def producer_settings(linger_ms: int) -> dict[str, Any]:
    """What PAO's producers use (``pao_common.kafka.create_broker``)."""
    return {"acks": "all", "linger_ms": linger_ms, "enable_idempotence": False}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The titles of PostgreSQL's own processes (``postgres: [cluster:] checkpointer`` and so
# on): they work for every database of the server, so they are counted apart.
PG_SERVER_PROCESSES = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "archiver",
    "stats collector",
    "io worker",
    "walsummarizer",
)


def postgres_processes() -> list[tuple[int, str]]:
    """``(pid, title)`` of every PostgreSQL server process on the machine."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found.append((int(proc.name), title.strip()))
            except OSError:
                continue
    return found


def database_backends(database: str) -> Callable[[], list[int]]:
    """The backends connected to ``database`` (their title names it; an autovacuum
    worker on it too): the PostgreSQL work of one system under test, not of whatever
    else uses the same server (other databases' backends are left out)."""
    return lambda: [pid for pid, title in postgres_processes() if database in title.split()]


def database_of(url: str) -> str:
    return url.split("?", 1)[0].rsplit("/", 1)[1]


def postgres_server_pids() -> list[int]:
    """The postmaster and PostgreSQL's own processes (WAL writer, checkpointer...)."""
    return [
        pid
        for pid, title in postgres_processes()
        if not title.startswith("postgres:")
        or title.rsplit(":", 1)[-1].strip() in PG_SERVER_PROCESSES
    ]


class CpuMeter:
    """CPU time each named process (or group of processes) spent between ``start`` and
    ``stop``: a figure that does not depend on how saturated the machine was. Counted per
    process: one that appears in between counts from zero."""

    def __init__(self, pids: dict[str, Callable[[], list[int]]]) -> None:
        self._pids = pids
        self._start: dict[str, dict[int, float]] = {}
        self._started_at = 0.0
        self.spent: dict[str, float] = {}
        self.elapsed_s = 0.0

    def _now(self) -> dict[str, dict[int, float]]:
        return {name: {p: cpu_seconds(p) for p in pids()} for name, pids in self._pids.items()}

    def start(self) -> None:
        self._start = self._now()
        self._started_at = time.monotonic()

    def stop(self) -> dict[str, float]:
        now = self._now()
        self.elapsed_s = time.monotonic() - self._started_at
        self.spent = {
            name: sum(s - self._start.get(name, {}).get(p, 0.0) for p, s in spent.items())
            for name, spent in now.items()
        }
        return self.spent


@dataclass
class Run:
    name: str
    rate: int
    duration_s: float
    planned: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""
    cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_window_s: float = 0.0  # how long ``cpu_s`` was metered

    def kept_up(self) -> bool:
        """Completed (nearly) everything at (nearly) the offered rate."""
        r = self.report()
        return r["completed"] >= 0.99 * len(self.planned) and r["throughput"] >= 0.95 * self.rate

    def latencies_ms(self) -> list[float]:
        return sorted(
            (self.done[k] - self.planned[k]) * 1000 for k in self.planned if k in self.done
        )

    def report(self) -> dict[str, float]:
        lat = self.latencies_ms()
        n = len(lat)
        if not n:
            return {"p50": float("nan"), "p99": float("nan"), "throughput": 0.0, "completed": 0}
        start = min(self.planned.values())
        last = max(self.done[k] for k in self.planned if k in self.done)
        return {
            "p50": lat[n // 2],
            "p99": lat[min(n - 1, int(n * 0.99))],
            "max": lat[-1],
            "throughput": n / (last - start),
            "completed": n,
        }


async def open_loop(
    rate: int, duration_s: float, send: Callable[[int, float], Awaitable[None]]
) -> None:
    """Call ``send(n, planned)`` at ``start + n / rate`` for ``duration_s``, not waiting."""
    loop = asyncio.get_running_loop()
    total = int(rate * duration_s)
    start = loop.time() + 0.05
    wall0 = time.monotonic() - loop.time()
    tasks: list[asyncio.Future[None]] = []
    for n in range(total):
        planned = start + n / rate
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(send(n, planned + wall0)))
    await asyncio.gather(*tasks)


async def wait_done(run: Run, expected: int, idle_s: float = 20.0) -> None:
    """Until ``expected`` completions, or nothing completed for ``idle_s``."""
    seen, since = -1, time.monotonic()
    while len(run.done) < expected:
        if len(run.done) != seen:
            seen, since = len(run.done), time.monotonic()
        elif time.monotonic() - since > idle_s:
            return
        await asyncio.sleep(0.1)


async def start_consumer(bootstrap: str, topic: str, fetch_max_wait_ms: int) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-observer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=fetch_max_wait_ms,
    )
    await consumer.start()
    for _ in range(600):  # wait for the assignment, so no completion is missed
        if consumer.assignment():
            break
        await asyncio.sleep(0.05)
    for tp in consumer.assignment():
        await consumer.position(tp)
    return consumer


# --- PAO -----------------------------------------------------------------------------------


async def observe_completions(consumer: AIOKafkaConsumer, runs: list[Run]) -> None:
    async for record in consumer:
        body = json.loads(record.value)
        if body.get("status") == "completed":
            now = time.monotonic()
            for run in runs:
                run.done.setdefault(body["request_id"], now)


def platform_meter(platform: Platform, broker_pid: int) -> CpuMeter:
    database = database_of(platform.settings.database_url)

    def of(*services: ServiceProcess | None) -> Callable[[], list[int]]:
        return lambda: [s.process.pid for s in services if s is not None and s.process]

    return CpuMeter(
        {
            "broker": lambda: [broker_pid],
            "gateway": of(platform.gateway),
            "orchestrator": of(*platform.orchestrators),
            "executor": of(platform.executor),
            "postgres": database_backends(database),
            "pg server": postgres_server_pids,
            "bench client": lambda: [os.getpid()],
        }
    )


async def bench_pao(platform: Platform, rate: int, duration_s: float, meter: CpuMeter) -> Run:
    assert platform.gateway is not None
    consumer = await start_consumer(
        platform.bootstrap, platform.topics.request_events, platform.settings.fetch_max_wait_ms
    )
    runs: list[Run] = []  # the run whose completions the observer records
    observer = asyncio.create_task(observe_completions(consumer, runs))
    headers = {"Authorization": f"Bearer {platform.token('bench')}"}
    client = LoadClient(platform.gateway.url, headers, connections=64)
    try:
        warm = Run("warm-up", 20, 2)  # connections, caches, consumer groups
        runs.append(warm)
        await open_loop(20, 2, submitter(client, warm))
        await wait_done(warm, len(warm.planned), idle_s=10)
        runs.clear()
        run = Run("pao", rate, duration_s)
        runs.append(run)
        meter.start()
        await open_loop(rate, duration_s, submitter(client, run))
        await wait_done(run, len(run.planned))
        run.cpu_s, run.cpu_window_s = meter.stop(), meter.elapsed_s
        runs.clear()
        print_run(run)
    finally:
        await client.aclose()
        observer.cancel()
        await asyncio.gather(observer, return_exceptions=True)
        await consumer.stop()
    return run


def submitter(client: LoadClient, run: Run) -> Callable[[int, float], Awaitable[None]]:
    async def send(n: int, planned: float) -> None:
        body = {"item_id": "debug-echo", "inputs": {"message": f"bench {n}"}}
        try:
            r = await asyncio.wait_for(client.post_json("/api/v1/requests", body), 30)
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            run.errors += 1
            run.first_error = run.first_error or repr(exc)
            return
        if r.status_code != 202:
            run.errors += 1
            run.first_error = run.first_error or f"{r.status_code} {r.text[:200]}"
            return
        run.planned[r.json()["id"]] = planned

    return send


def print_run(run: Run) -> None:
    r = run.report()
    print(
        f"  {run.name:5s} {run.rate:4d}/s x {run.duration_s:.0f}s: "
        f"completed {r['completed']}/{int(run.rate * run.duration_s)}"
        f" (errors {run.errors}{': ' + run.first_error if run.errors else ''}), "
        f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
        f"max {r.get('max', float('nan')):.1f} ms, throughput {r['throughput']:.1f}/s "
        f"(machine load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    if run.cpu_s and r["completed"]:
        per = {name: 1000 * s / r["completed"] for name, s in run.cpu_s.items()}
        print(
            f"        CPU per completed request: {sum(per.values()):.1f} ms ("
            + ", ".join(f"{name} {ms:.2f}" for name, ms in per.items())
            + ")",
            flush=True,
        )


# --- the floor -----------------------------------------------------------------------------


async def relay_main(bootstrap: str, fetch_max_wait_ms: int, linger_ms: int) -> None:
    """``--relay``: forward hop n -> hop n+1 for each of the first HOPS-1 topics, forever."""

    async def relay(src: str, dst: str) -> None:
        consumer = AIOKafkaConsumer(
            src,
            bootstrap_servers=bootstrap,
            group_id=f"bench-relay-{src}",
            auto_offset_reset="latest",
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **producer_settings(linger_ms))
        await consumer.start()
        await producer.start()
        while True:
            # What a lean relay does: forward a fetched batch at once, commit after it.
            batch = await consumer.getmany(timeout_ms=1000)
            sends = [
                await producer.send(dst, r.value, key=r.key, headers=r.headers)
                for records in batch.values()
                for r in records
            ]
            if sends:
                await asyncio.gather(*sends)
                await consumer.commit()

    tasks = [relay(FLOOR_TOPICS[n], FLOOR_TOPICS[n + 1]) for n in range(HOPS - 1)]
    print("relays started", flush=True)
    await asyncio.gather(*tasks)


async def bench_floor(settings: Settings, rate: int, duration_s: float, broker_pid: int) -> Run:
    bootstrap = settings.kafka_bootstrap
    await ensure_topics(bootstrap, FLOOR_TOPICS, partitions=settings.topic_partitions)
    relays = subprocess.Popen(  # noqa: ASYNC220  (started once, not waited on here)
        [
            sys.executable,
            "-m",
            "tests.bench.lifecycle",
            "--relay",
            bootstrap,
            str(settings.fetch_max_wait_ms),
            str(settings.kafka_linger_ms),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    meter = CpuMeter(
        {
            "broker": lambda: [broker_pid],
            "relays": lambda: [relays.pid],
            "bench client": lambda: [os.getpid()],
        }
    )
    consumer = await start_consumer(bootstrap, FLOOR_TOPICS[-1], settings.fetch_max_wait_ms)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, **producer_settings(settings.kafka_linger_ms)
    )
    await producer.start()
    current: list[Run] = []

    async def observe() -> None:
        async for record in consumer:
            now = time.monotonic()
            for run in current:
                run.done.setdefault(record.key.decode(), now)

    observer = asyncio.create_task(observe())

    def sender(run: Run) -> Callable[[int, float], Awaitable[None]]:
        async def send(n: int, planned: float) -> None:
            key = f"{run.rate}-{n}"
            run.planned[key] = planned
            await producer.send_and_wait(FLOOR_TOPICS[0], b"{}", key=key.encode())

        return send

    try:
        # warm up until the relays' groups have joined and a message makes it through
        warm = Run("warm-up", 10, 1)
        current.append(warm)
        for _ in range(60):
            await open_loop(10, 1, sender(warm))
            await asyncio.sleep(1)
            if warm.done:
                break
        current.clear()
        run = Run("floor", rate, duration_s)
        current.append(run)
        meter.start()
        await open_loop(rate, duration_s, sender(run))
        await wait_done(run, len(run.planned))
        run.cpu_s, run.cpu_window_s = meter.stop(), meter.elapsed_s
        current.clear()
        print_run(run)
    finally:
        observer.cancel()
        await asyncio.gather(observer, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        relays.terminate()
        relays.wait(10)
    return run


# --- the DBOS peer --------------------------------------------------------------------------


async def bench_dbos(base_url: str, rate: int, duration_s: float, log_dir: Path) -> Run:
    """A one-step DBOS workflow echoing the message (``tests.bench.dbos_peer``, a process
    of its own, on a system database of its own on the same PostgreSQL), started at
    ``rate`` and timed from its planned start to its result; CPU of that process and of
    its database's backends. Its log (DBOS's warnings) goes to ``log_dir``."""
    url = db.with_database(base_url, f"pao_bench_dbos_{uuid.uuid4().hex[:8]}")
    await db.ensure_database(url)
    log_path = log_dir / "dbos-peer.log"
    with log_path.open("wb") as log:
        peer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.dbos_peer",
            url,
            str(rate),
            str(duration_s),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            limit=64 * 1024 * 1024,  # the timings come back as one JSON line
        )
    assert peer.stdin is not None and peer.stdout is not None
    meter = CpuMeter(
        {
            "dbos": lambda: [peer.pid],
            "postgres": database_backends(database_of(url)),
            "pg server": postgres_server_pids,
        }
    )
    run = Run("dbos", rate, duration_s)
    try:
        ready = await asyncio.wait_for(peer.stdout.readline(), 120)
        if ready.strip() != b"ready":
            raise RuntimeError(f"the DBOS peer did not start (said {ready[:200]!r}; {log_path})")
        meter.start()
        peer.stdin.write(b"go\n")
        await peer.stdin.drain()
        line = await asyncio.wait_for(peer.stdout.readline(), duration_s + 300)
        run.cpu_s, run.cpu_window_s = meter.stop(), meter.elapsed_s
        if not line:
            raise RuntimeError(f"the DBOS peer stopped without its timings ({log_path})")
        timings = json.loads(line)
        run.planned, run.done = timings["planned"], timings["done"]
        run.errors, run.first_error = timings["errors"], timings["first_error"]
        print_run(run)
        if log_path.stat().st_size:
            print(f"        DBOS peer's log: {log_path}", flush=True)
    finally:
        try:
            if peer.returncode is None:
                peer.stdin.close()  # the peer stops DBOS and exits
                await asyncio.wait_for(peer.wait(), 60)
        except TimeoutError:  # still finishing workflows: its figures are in already
            peer.kill()
            await peer.wait()
        except BaseException:  # the bench was stopped (SIGTERM) meanwhile
            if peer.returncode is None:
                peer.kill()
            raise
        finally:
            await drop_database(url)
    return run


def bench_server() -> str:
    """The PostgreSQL server the benchmarks make their databases on."""
    return os.environ.get("PAO_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def migrated_database(server: str) -> str:
    """A database of its own on ``server``, migrated, for one run (``drop_database`` after)."""
    url = db.with_database(server, f"pao_bench_{uuid.uuid4().hex[:8]}")
    await db.ensure_database(url)
    await db.migrate(url)
    return url


def platform_settings(kafka_bootstrap: str, database_url: str) -> Settings:
    """A local platform's settings over a run's own broker and database."""
    return Settings(
        profile=Profile.LOCAL,
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=os.environ.get("PAO_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_prefix=f"pao-bench:{uuid.uuid4().hex[:6]}:",
        topic_suffix="",
    )


async def drop_database(url: str) -> None:
    conn = await asyncpg.connect(db.with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database_of(url)}" WITH (FORCE)')
    finally:
        await conn.close()


# --- main ------------------------------------------------------------------------------------


async def run_rate(rate: int, duration_s: float, with_dbos: bool = True) -> list[Run]:
    """One rate on a platform and broker of its own, then the DBOS peer on a database of
    its own (the platform stopped), then the floor on a broker of its own: what ran
    before (a backlog, the bundled broker's stored records, whose number makes its
    fetches dearer) weighs on none of them."""
    broker = BundledBroker(free_port())
    brokers = [broker]
    broker.start()
    assert broker.process is not None
    server = bench_server()
    url = await migrated_database(server)
    work = Path(tempfile.mkdtemp(prefix="pao-bench-lifecycle-"))
    settings = platform_settings(broker.bootstrap, url)
    platform = Platform(
        settings=settings,
        log_dir=work,
        with_gateway=True,
        log_level="WARNING",
        # One user ("bench") submits at up to 150/s: no per-user rate limit for it.
        gateway_env={"PAO_GATEWAY_SUBMIT_RATE_PER_MIN": "0"},
    )
    # Started in a thread that a cancellation (SIGTERM) cannot stop half way: the cleanup
    # below waits for it, so it stops every process the start made.
    starting = asyncio.ensure_future(asyncio.to_thread(platform.start))
    try:
        print(
            f"{rate}/s: fresh broker and platform (catalog, gateway, orchestrator, debug "
            f"executor as processes; {settings.topic_partitions} partitions, "
            f"fetch_max_wait_ms={settings.fetch_max_wait_ms}, "
            f"linger_ms={settings.kafka_linger_ms}), logs in {work}",
            flush=True,
        )
        await asyncio.shield(starting)
        meter = platform_meter(platform, broker.process.pid)
        pao = await bench_pao(platform, rate, duration_s, meter)
        await asyncio.to_thread(platform.stop)
        broker.stop()
        runs = [pao]
        if with_dbos:
            try:
                runs.append(await bench_dbos(server, rate, duration_s, work))
            except (RuntimeError, TimeoutError) as exc:  # the peer's figures only are lost
                print(f"  dbos   {rate:4d}/s: no figures ({exc!r})", flush=True)
                runs.append(Run("dbos", rate, duration_s))
        floor_broker = BundledBroker(free_port())
        brokers.append(floor_broker)
        floor_broker.start()
        assert floor_broker.process is not None
        floor_settings = settings.model_copy(update={"kafka_bootstrap": floor_broker.bootstrap})
        floor = await bench_floor(floor_settings, rate, duration_s, floor_broker.process.pid)
        return [*runs, floor]
    finally:
        await asyncio.gather(starting, return_exceptions=True)
        await asyncio.to_thread(platform.stop)
        for each in brokers:
            each.stop()
        await drop_database(url)


async def run_all(rates: list[int], duration_s: float, with_dbos: bool = True) -> None:
    results = [await run_rate(rate, duration_s, with_dbos) for rate in rates]
    print(
        "\nsummary (PAO: submit-to-completed; DBOS: start-to-result of a one-step workflow;"
        " floor: 4 bare-aiokafka hops):"
    )
    for runs in results:
        floor = runs[-1].report()
        for run in runs:
            r = run.report()
            per = 1000 * sum(run.cpu_s.values()) / r["completed"] if r["completed"] else 0.0
            print(
                f"  {run.rate:4d}/s {run.name:5s}: {r['throughput']:6.1f} completed/s  "
                f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
                f"(p50 {r['p50'] / floor['p50']:5.2f}x the floor's)  "
                f"CPU {per:5.1f} ms per request ({per / floor_cpu_ms(runs[-1]):.2f}x)",
                flush=True,
            )
    print_cost_split(results)


def fixed_and_work(runs: list[Run]) -> tuple[float, float] | None:
    """Split one system's CPU into what it costs whatever the load and what each request
    adds: a least-squares line, CPU per second = fixed + work x completed per second, over
    its runs that kept up (None with fewer than two such rates).

    On the bundled broker the fixed part is mostly polling (every busy consumer fetches
    each ``fetch_max_wait_ms``, answered or not), which the CPU per request of one rate
    divides by that rate: the split says what the ratio at one rate hides."""
    points = [
        (r.report()["completed"] / r.cpu_window_s, sum(r.cpu_s.values()) / r.cpu_window_s)
        for r in runs
        if r.cpu_window_s > 0 and r.kept_up()
    ]
    if len({round(x) for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return mean_y - slope * mean_x, slope


def print_cost_split(results: list[list[Run]]) -> None:
    by_system: dict[str, list[Run]] = {}
    for runs in results:
        for run in runs:
            by_system.setdefault(run.name, []).append(run)
    lines = []
    for name, runs in by_system.items():
        split = fixed_and_work(runs)
        if split is not None:
            fixed, work = split
            lines.append(
                f"  {name:5s}: fixed {fixed:5.2f} of a core, work {1000 * work:5.1f} ms per request"
            )
    if lines:
        print("CPU per second = fixed + work x completed/s, over the rates each kept up with:")
        print("\n".join(lines), flush=True)


def floor_cpu_ms(floor: Run) -> float:
    completed = floor.report()["completed"]
    return 1000 * sum(floor.cpu_s.values()) / completed if completed else float("nan")


async def cancelled_by_sigterm(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work``; SIGTERM (``timeout``, CI) cancels it at its next await, so its
    cleanup (stop the platform, drop the database) runs in the event loop as it should."""
    task = asyncio.ensure_future(work)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await task


def main(argv: list[str] | None = None) -> None:
    """``--quick`` (or ``PAO_BENCH_QUICK=1`` via ``python -m tests.bench lifecycle``)."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.lifecycle")
    parser.add_argument("--quick", action="store_true", help="5 s per rate instead of 30")
    parser.add_argument("--rates", default=os.environ.get("PAO_BENCH_RATES", "50,100,200"))
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--no-dbos", action="store_true", help="without the DBOS peer")
    parser.add_argument("--relay", nargs=3, metavar=("BOOTSTRAP", "FETCH_MAX_WAIT_MS", "LINGER_MS"))
    # Through ``python -m tests.bench lifecycle`` the benchmark names are in argv too.
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.relay:
        asyncio.run(relay_main(args.relay[0], int(args.relay[1]), int(args.relay[2])))
        return
    quick = args.quick or os.environ.get("PAO_BENCH_QUICK") == "1"
    duration = args.duration or (5.0 if quick else 30.0)
    rates = [int(r) for r in args.rates.split(",")]
    try:
        asyncio.run(cancelled_by_sigterm(run_all(rates, duration, not args.no_dbos)))
    except asyncio.CancelledError:
        sys.exit("benchmark stopped by SIGTERM; platform stopped, database dropped")


if __name__ == "__main__":
    main()

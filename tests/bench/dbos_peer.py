"""The DBOS peer of ``tests/bench/lifecycle``: what a team might pick instead of PAO.

``python -m tests.bench.dbos_peer SYSTEM_DATABASE_URL RATE DURATION_S``, started by
the lifecycle bench as a process of its own. It configures DBOS (PyPI ``dbos``,
PostgreSQL-backed durable workflows) on a system database of its own, launches it and
defines a workflow of one step that echoes the message, then:

1. warms up (20 workflows/s for 2 s: the pool's connections, DBOS's tables' pages) and
   prints ``ready``;
2. waits for a ``go`` line on its standard input (the bench starts its CPU meter first);
3. starts workflows at RATE/s for DURATION_S, open loop like the PAO run (workflow *n* is
   started at ``start + n / RATE`` whatever happened to the earlier ones), each timed
   from that planned instant to its result (``handle.get_result()``);
4. prints one JSON line: ``{"planned": {id: t}, "done": {id: t}, "errors": n,
   "first_error": "..."}`` (``time.monotonic()`` instants, the same clock as the
   bench's) and exits when its standard input closes.

Workflows are started in this process with ``DBOS.start_workflow_async`` (the way a DBOS
application's own request handler starts one: DBOS is a library, not a service) and so
run here too; ``start_workflow_async`` returns once the workflow is durably recorded.
Nothing of PAO is imported: the peer is measured as DBOS alone.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from dbos import DBOS, DBOSConfig


@DBOS.step()
async def echo(message: str) -> str:
    return message


@DBOS.workflow()
async def echo_workflow(message: str) -> str:
    return await echo(message)


class Timings:
    def __init__(self) -> None:
        self.planned: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.errors = 0
        self.first_error = ""


async def open_loop(
    rate: int, duration_s: float, start_one: Callable[[int, float], Coroutine[Any, Any, None]]
) -> None:
    """``start_one(n, planned)`` at ``start + n / rate`` for ``duration_s``, not waiting
    (the same schedule as ``tests.bench.lifecycle.open_loop``)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    wall0 = time.monotonic() - loop.time()
    tasks = []
    for n in range(int(rate * duration_s)):
        planned = start + n / rate
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start_one(n, planned + wall0)))
    await asyncio.gather(*tasks)


async def start_and_wait(message: str) -> str:
    handle = await DBOS.start_workflow_async(echo_workflow, message)
    return await handle.get_result()


def starter(timings: Timings, prefix: str) -> Callable[[int, float], Coroutine[Any, Any, None]]:
    async def start_one(n: int, planned: float) -> None:
        key = f"{prefix}-{n}"
        message = f"bench {n}"
        try:
            # Start and result within 30 s, like the PAO run's HTTP timeout: a workflow
            # stuck on DBOS's connection pool counts as an error, not a hang.
            result = await asyncio.wait_for(start_and_wait(message), 30)
        except Exception as exc:  # counted and reported, like the PAO run's errors
            timings.errors += 1
            timings.first_error = timings.first_error or repr(exc)
            return
        if result != message:
            timings.errors += 1
            timings.first_error = timings.first_error or f"echoed {result!r} for {message!r}"
            return
        timings.planned[key] = planned
        timings.done[key] = time.monotonic()

    return start_one


async def run(rate: int, duration_s: float) -> Timings:
    await open_loop(20, 2, starter(Timings(), "warm-up"))
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit(f"dbos peer: expected 'go' on stdin, got {line!r}")
    timings = Timings()
    await open_loop(rate, duration_s, starter(timings, "run"))
    return timings


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        raise SystemExit(
            "usage: python -m tests.bench.dbos_peer SYSTEM_DATABASE_URL RATE DURATION_S"
        )
    url, rate, duration_s = args[0], int(args[1]), float(args[2])
    config: DBOSConfig = {
        "name": "pao-bench-dbos-peer",
        "system_database_url": url,
        # PAO's services run at WARNING in the bench: no per-workflow log lines here either.
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        timings = asyncio.run(run(rate, duration_s))
        print(
            json.dumps(
                {
                    "planned": timings.planned,
                    "done": timings.done,
                    "errors": timings.errors,
                    "first_error": timings.first_error,
                }
            ),
            flush=True,
        )
        sys.stdin.read()  # until the bench has read its CPU figures and closes the pipe
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    main()

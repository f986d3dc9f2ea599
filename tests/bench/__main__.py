"""``python -m tests.bench [NAME ...]``: run the benchmarks; each prints its own figures.

Benchmarks measure and print; they assert nothing (targets are in each module's docstring).
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["catalog", "credentials", "idle", "lifecycle", "patterns", "resources"]


def main(names: list[str]) -> int:
    for name in names or BENCHMARKS:
        module = importlib.import_module(f"tests.bench.{name}")
        print(f"\n=== bench {name} ===", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

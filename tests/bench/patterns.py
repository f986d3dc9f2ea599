"""Pattern benchmark: ``python -m tests.bench.patterns``.

A catalog field declares ``pattern: '^(a+)+$'``; a requester sends 33 characters
(``"a" * 32 + "b"``). Under Python's ``re`` that took over 20 s of CPU per request (each
extra character doubles it). Inputs are now matched by RE2 (``pao_common.patterns``), in
time linear in the input. This prints how long validation takes through the real paths:

- ``pao_catalog_model.forms.validate_inputs``: the catalog service's ``POST .../validate``, the
  orchestrator's re-validation and ``pao catalog preview`` all call it;
- ``pao_gateway.catalog_items.checked_inputs``: the gateway's check before it submits;

for the 33-character input and for a 100,000-character one (linear: no cliff), and for
comparison the old ``re`` figure, measured in a subprocess stopped after 2 s.

Target (issue #10): the 33-character input validates in under 10 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.forms import validate_inputs
from pao_catalog_model.loader import load_file
from pao_catalog_model.model import CatalogItem
from pao_gateway.catalog_items import PinnedItem, checked_inputs
from pao_gateway.errors import InvalidSubmission

PATTERN = "^(a+)+$"
INPUT = "a" * 32 + "b"
RE_CAP_S = 2.0


def item_with_the_pattern() -> CatalogItem:
    """The item as the catalog loads it from a file (so the load-time checks run too)."""
    document = {
        "schemaVersion": "2.0",
        "metadata": {
            "id": "pattern-bench",
            "name": "Pattern bench",
            "version": "1.0.0",
            "owner": "platform",
            "category": "debug",
        },
        "presentation": {
            "fields": [
                {
                    "id": "name",
                    "type": "string",
                    "label": "Name",
                    "required": True,
                    "validation": {"pattern": PATTERN},
                }
            ]
        },
        "fulfillment": {
            "mode": "automated",
            "automated": {
                "steps": [
                    {"id": "log", "action": "debug.log", "with": {"message": "{{ inputs.name }}"}}
                ]
            },
        },
        "examples": [{"name": "basic", "user": {"id": "alice"}, "inputs": {"name": "aaa"}}],
    }
    with tempfile.TemporaryDirectory(prefix="pao-bench-patterns-") as folder:
        path = Path(folder) / "item.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        result = load_file(path)
    if result.item is None:
        raise SystemExit(f"the bench item does not load: {[str(e) for e in result.errors]}")
    return result.item


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    """``(median, max)`` wall time of ``call`` in milliseconds."""
    spent = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent), max(spent)


def catalog_path(item: CatalogItem, value: str) -> Callable[[], Any]:
    def run() -> None:
        errors = validate_inputs(item, {"name": value})
        assert errors and errors[0].field == "name", errors  # the input is refused

    return run


def gateway_path(item: CatalogItem, value: str) -> Callable[[], Any]:
    pinned = PinnedItem("pattern-bench", "1.0.0", "sha256:bench", item)

    def run() -> None:
        try:
            checked_inputs(pinned, {"name": value})
        except InvalidSubmission:
            return
        raise AssertionError("the gateway accepted an input the pattern refuses")

    return run


def old_re_ms(length: int) -> float | None:
    """``re.search(PATTERN, "a" * (length - 1) + "b")`` in a subprocess; None past the cap."""
    script = (
        f"import re, time; s = 'a' * {length - 1} + 'b'; t = time.perf_counter(); "
        f"re.search({PATTERN!r}, s); print((time.perf_counter() - t) * 1000)"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            timeout=RE_CAP_S,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


def main() -> None:
    item = item_with_the_pattern()
    print(f"pattern {PATTERN!r}; every input ends in 'b', so every one is refused")
    print(f"{'path':<44} {'input':>9} {'median':>10} {'max':>10}")
    for name, path in (
        ("catalog  pao_catalog_model.forms.validate_inputs", catalog_path),
        ("gateway  pao_gateway...checked_inputs", gateway_path),
    ):
        for length, runs in ((33, 200), (100_000, 20)):
            median, worst = timed(path(item, "a" * (length - 1) + "b"), runs)
            print(f"{name:<44} {length:>9,} {median:>8.3f}ms {worst:>8.3f}ms")
    print(f"\nold: Python re.search, one run each, in a subprocess stopped after {RE_CAP_S:.0f} s")
    last: tuple[int, float] | None = None
    for length in (20, 22, 24, 33):
        spent = old_re_ms(length)
        if spent is not None:
            last = (length, spent)
            print(f"  {length} characters: {spent:.1f} ms")
            continue
        estimate = ""
        if last is not None:  # each extra character doubles the work
            estimate = (
                f" (doubling from {last[0]}: ~{last[1] * 2 ** (length - last[0]) / 1000:.0f} s)"
            )
        print(f"  {length} characters: >{RE_CAP_S:.0f} s, stopped{estimate}")
    print("target: the 33-character input validates in under 10 ms")


if __name__ == "__main__":
    main()

"""``metadata.baseline_lead_time``: a positive duration, read by the lead-time report."""

from __future__ import annotations

from pathlib import Path

from tests.catalog_lib.support import load, messages, minimal


def test_baseline_lead_time_is_kept(tmp_path: Path) -> None:
    doc = minimal()
    doc["metadata"]["baseline_lead_time"] = "14d"
    result = load(tmp_path, doc)
    assert result.errors == [] and result.item is not None
    assert result.item.metadata.baseline_lead_time == "14d"


def test_baseline_lead_time_must_be_a_positive_duration(tmp_path: Path) -> None:
    for bad in ("2 weeks", "0d", "14"):
        doc = minimal()
        doc["metadata"]["baseline_lead_time"] = bad
        problems = messages(load(tmp_path, doc))
        assert len(problems) == 1 and problems[0].startswith(
            f"metadata.baseline_lead_time: {bad!r}"
        ), problems

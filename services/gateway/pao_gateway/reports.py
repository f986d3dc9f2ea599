"""The lead-time report: how long requests take, per item and mode, against the baseline.

Computed with SQL from the orchestrator's read contract ``request_lead_times`` (a view
it owns, migration 0020; a rebuild of its read model reproduces it exactly): per request,
``submitted_at``, ``completed_at`` (when the request ended) and status; the fulfilment
mode it was submitted with, whether it fell back to a ticket, and when approval was asked
and decided (the first ``ApprovalRequested`` and the last decision: the time the deciding
message brought; a change window that escalates an approved request adds a stage, and
its decision ends the wait).

Mode of a request: ``automated``, ``manual`` (a manual item: a ticket from the start) or
``fallback`` (automated, then handed to a person). Lead time: submitted to completed, over
completed requests only; approval wait: asked to decided; fulfilment: lead time minus
approval wait. The baseline is the item's ``metadata.baseline_lead_time`` in its latest
catalog version (highest semver, non-retired first); the reduction is
``1 - p50 lead time / baseline``.

Platform admins see every item; anyone else the items their teams own
(``metadata.owner`` of the latest version).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pao_catalog_model.model import duration_seconds
from pao_common import errors as common_errors
from pao_common.catalog_api import CatalogApi

from pao_gateway.errors import AccessDenied, CatalogUnavailable
from pao_gateway.identity import User

MODES = ("automated", "manual", "fallback")
# Request statuses counted as outcomes; anything else is still open.
OUTCOMES = ("completed", "failed", "rolled_back", "rejected", "expired", "cancelled")
BUCKETS = ("day", "week", "month")

_REQUESTS = """
WITH r AS (
    SELECT t.item_id, t.status, t.submitted_at,
           CASE WHEN t.fell_back THEN 'fallback'
                WHEN t.mode = 'manual' THEN 'manual'
                ELSE 'automated' END AS mode,
           CASE WHEN t.status = 'completed'
                THEN EXTRACT(EPOCH FROM t.completed_at - t.submitted_at)::float8 END AS lead_s,
           EXTRACT(EPOCH FROM t.approval_decided_at - t.approval_asked_at)::float8 AS approval_s
    FROM request_lead_times t
    WHERE t.submitted_at >= $1 AND t.submitted_at < $2
      AND t.item_id = ANY($3::text[])
)
"""

_SUMMARY = (
    _REQUESTS
    + """
SELECT item_id, mode, GROUPING(mode) = 1 AS all_modes,
       count(*) AS requests,
       {outcomes},
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lead_s) AS lead_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY lead_s) AS lead_p90_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY approval_s) AS approval_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY approval_s) AS approval_p90_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lead_s - COALESCE(approval_s, 0))
           AS fulfilment_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY lead_s - COALESCE(approval_s, 0))
           AS fulfilment_p90_s,
       sum(COALESCE(approval_s, 0)) FILTER (WHERE lead_s IS NOT NULL) AS approval_sum_s,
       sum(lead_s) AS lead_sum_s
FROM r
GROUP BY GROUPING SETS ((item_id, mode), (item_id))
ORDER BY item_id, GROUPING(mode) DESC, mode
""".replace(
        "{outcomes}",
        ",\n       ".join(f"count(*) FILTER (WHERE status = '{s}') AS {s}" for s in OUTCOMES),
    )
)

_SERIES = (
    _REQUESTS
    + """
SELECT item_id, date_trunc($4, submitted_at, 'UTC') AS period,
       count(*) AS requests,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE mode <> 'automated') AS manual,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lead_s) AS lead_p50_s
FROM r
GROUP BY item_id, period
ORDER BY item_id, period
"""
)


@dataclass(frozen=True)
class ItemFacts:
    item_id: str
    name: str | None
    owner: str | None
    baseline: str | None  # "14d", as the item declares it

    @property
    def baseline_s(self) -> int | None:
        return duration_seconds(self.baseline) if self.baseline else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class LeadTimeReport:
    """Requests from the orchestrator's ``request_lead_times``; owners and baselines from
    the catalog service's API (its item versions, ``pao_common.catalog_api``)."""

    def __init__(self, pool: asyncpg.Pool, catalog: CatalogApi) -> None:
        self._pool = pool
        self._catalog = catalog

    async def items(self, item_ids: list[str] | None = None) -> dict[str, ItemFacts]:
        """Owner and baseline of each item, from its latest version (non-retired first:
        the version the catalog shows the item as)."""
        try:
            return await self._items(item_ids)
        except common_errors.CatalogUnavailable as exc:
            raise CatalogUnavailable(f"{exc}; try again") from exc

    async def _items(self, item_ids: list[str] | None) -> dict[str, ItemFacts]:
        if item_ids is None:
            shown = await self._catalog.current_versions()
        else:
            shown = {}
            for item_id in dict.fromkeys(item_ids):
                listed = await self._catalog.versions(item_id)
                if listed is not None and listed.versions:
                    shown[item_id] = listed.current.version
        facts = {}
        for item_id, version in shown.items():
            document = await self._catalog.document(item_id, version)
            if document is None:
                continue
            meta = document.get("metadata") or {}
            facts[item_id] = ItemFacts(
                item_id,
                _text(meta.get("name")),
                _text(meta.get("owner")),
                _text(meta.get("baseline_lead_time")),
            )
        return facts

    async def visible_items(self, user: User, wanted: list[str] | None) -> dict[str, ItemFacts]:
        """The items ``user`` may report on (of ``wanted``, when given)."""
        items = await self.items(wanted)
        if user.is_admin:
            # Requests of items the catalog no longer holds are reported too.
            known = await self._pool.fetch(
                "SELECT DISTINCT item_id FROM request_view WHERE item_id IS NOT NULL"
                " AND ($1::text[] IS NULL OR item_id = ANY($1::text[]))",
                wanted,
            )
            for row in known:
                items.setdefault(row["item_id"], ItemFacts(row["item_id"], None, None, None))
            return items
        owned = {i: f for i, f in items.items() if f.owner is not None and f.owner in user.teams}
        if not owned and not wanted:
            raise AccessDenied(
                "the lead-time report is for platform admins and the teams that own items;"
                f" {user.id}'s teams own none"
            )
        if wanted and (refused := sorted(set(wanted) - set(owned))):
            raise AccessDenied(f"not an owner of {', '.join(refused)}: {user.id} may not see it")
        return owned

    async def build(
        self,
        items: dict[str, ItemFacts],
        *,
        since: datetime,
        until: datetime,
        bucket: str = "week",
    ) -> dict[str, Any]:
        if bucket not in BUCKETS:
            raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
        ids = sorted(items)
        async with self._pool.acquire() as conn:
            summary = await conn.fetch(_SUMMARY, since, until, ids)
            series = await conn.fetch(_SERIES, since, until, ids, bucket)
        report: dict[str, dict[str, Any]] = {}
        for row in summary:
            facts = items[row["item_id"]]
            entry = report.setdefault(
                row["item_id"],
                {
                    "item_id": row["item_id"],
                    "name": facts.name,
                    "owner": facts.owner,
                    "baseline_lead_time": facts.baseline,
                    "baseline_lead_time_s": facts.baseline_s,
                    "modes": [],
                    "series": [],
                },
            )
            figures = self._figures(row, facts.baseline_s)
            if row["all_modes"]:
                entry.update(figures)
            else:
                entry["modes"].append({"mode": row["mode"], **figures})
        for entry in report.values():
            counts = {m["mode"]: m["requests"] for m in entry["modes"]}
            total = entry["requests"]
            entry["mode_share"] = {m: round(counts.get(m, 0) / total, 4) for m in MODES}
        for row in series:
            report[row["item_id"]]["series"].append(
                {
                    "period": row["period"].isoformat(),
                    "requests": row["requests"],
                    "completed": row["completed"],
                    "manual": row["manual"],
                    "lead_p50_s": _round(row["lead_p50_s"]),
                }
            )
        return {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "bucket": bucket,
            "items": list(report.values()),
        }

    @staticmethod
    def _figures(row: asyncpg.Record, baseline_s: int | None) -> dict[str, Any]:
        requests = row["requests"]
        p50 = row["lead_p50_s"]
        lead_sum = row["lead_sum_s"]
        return {
            "requests": requests,
            "outcomes": {s: row[s] for s in OUTCOMES},
            "open": requests - sum(row[s] for s in OUTCOMES),
            "completed_share": round(row["completed"] / requests, 4),
            "lead_time_p50_s": _round(p50),
            "lead_time_p90_s": _round(row["lead_p90_s"]),
            "approval_wait_p50_s": _round(row["approval_p50_s"]),
            "approval_wait_p90_s": _round(row["approval_p90_s"]),
            "fulfilment_p50_s": _round(row["fulfilment_p50_s"]),
            "fulfilment_p90_s": _round(row["fulfilment_p90_s"]),
            # Of the time completed requests took, the share spent waiting for approval.
            "approval_share": (round(row["approval_sum_s"] / lead_sum, 4) if lead_sum else None),
            "reduction_vs_baseline": (
                round(1 - p50 / baseline_s, 4) if baseline_s and p50 is not None else None
            ),
        }

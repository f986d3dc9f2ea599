"""``pao report lead-time``: the success report, through the gateway's HTTP API.

export PAO_TOKEN=$(pao token --user ana --team platform --role platform-admin)
pao report lead-time --since 2026-01-01
pao report lead-time --since 2026-01-01 --format csv > lead-time.csv
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click

from pao_cli.request_cmd import API, Client, gateway_client

OUTCOMES = ("completed", "failed", "rolled_back", "rejected", "expired", "cancelled")
COLUMNS = (
    "item_id",
    "mode",
    "requests",
    *OUTCOMES,
    "open",
    "completed_share",
    "lead_time_p50_s",
    "lead_time_p90_s",
    "approval_wait_p50_s",
    "fulfilment_p50_s",
    "approval_share",
    "baseline_lead_time_s",
    "reduction_vs_baseline",
)


@click.group(help="Reports over the platform's history (through the gateway).")
@gateway_client
def report() -> None:
    """Commands of the group; the client is in the context."""


def rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per item and mode (``all`` first) of the gateway's report."""
    flat = []
    for item in answer["items"]:
        for mode, figures in [("all", item), *((m["mode"], m) for m in item["modes"])]:
            row: dict[str, Any] = {"item_id": item["item_id"], "mode": mode}
            for column in COLUMNS[2:]:
                if column in OUTCOMES:
                    row[column] = figures["outcomes"][column]
                elif column == "baseline_lead_time_s":
                    row[column] = item["baseline_lead_time_s"]
                else:
                    row[column] = figures.get(column)
            flat.append(row)
    return flat


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def table(answer: dict[str, Any]) -> str:
    head = ("ITEM", "MODE", "REQ", "DONE", "FAILED", "P50", "P90", "APPROVAL", "BASELINE", "SAVED")
    lines = [head]
    for row in rows(answer):
        failed = sum(row[s] for s in OUTCOMES if s != "completed")
        lines.append(
            (
                row["item_id"],
                row["mode"],
                str(row["requests"]),
                _share(row["completed_share"]),
                str(failed),
                _duration(row["lead_time_p50_s"]),
                _duration(row["lead_time_p90_s"]),
                _duration(row["approval_wait_p50_s"]),
                _duration(row["baseline_lead_time_s"]),
                _share(row["reduction_vs_baseline"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    period = f"requests submitted {answer['since']} .. {answer['until']}"
    body = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join([period, *body] if answer["items"] else [period, "no requests"])


@report.command("lead-time", help="Lead time per item and mode against each item's baseline.")
@click.option("--since", default=None, help="Start date or date-time (default: 30 days ago)")
@click.option("--until", default=None, help="End, exclusive (default: now)")
@click.option("--item", "items", multiple=True, help="Only this item (repeat)")
@click.option("--bucket", type=click.Choice(["day", "week", "month"]), default="week")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "text", "json", "csv"]),
    default="table",
    show_default=True,
    help="text is the table",
)
@click.pass_obj
def lead_time(
    client: Client,
    since: str | None,
    until: str | None,
    items: tuple[str, ...],
    bucket: str,
    fmt: str,
) -> None:
    params: list[tuple[str, str]] = [("bucket", bucket)]
    params += [(k, v) for k, v in (("since", since), ("until", until)) if v]
    params += [("item", i) for i in items]
    answer = client.call("GET", f"{API}/reports/lead-time", params=params).json()
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows(answer))
        click.echo(out.getvalue(), nl=False)
    else:
        click.echo(table(answer))

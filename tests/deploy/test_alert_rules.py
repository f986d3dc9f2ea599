"""The alert rules, their unit tests, runbooks, the dashboard and the monitoring manifests.

``promtool`` (Debian's ``prometheus`` package; ``.ci/run`` installs it) checks
``deploy/observability/rules.yml`` and runs its unit tests (``rules.test.yml``): without
it the tests fail in CI and skip elsewhere. ``python -m tests.deploy.test_alert_rules``
rewrites ``deploy/k8s/monitoring/prometheus-rule.yaml`` from ``rules.yml``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "deploy" / "observability"
RULES = OBSERVABILITY / "rules.yml"
DASHBOARD = OBSERVABILITY / "dashboard.json"
K8S = REPO / "deploy" / "k8s"
MONITORING = K8S / "monitoring"
OPERATIONS = REPO / "docs" / "operations.md"
# The modules whose metrics the services export (each service imports its own).
METRIC_MODULES = (
    "pao_common.service",
    "pao_common.dlq",
    "pao_common.consumer_lag",
    "pao_common.outbox_gauges",
    "pao_common.executor.metrics",
    "pao_orchestrator.metrics",
    "pao_orchestrator.relay",
    "pao_orchestrator.handler",
    "pao_gateway.app",
    "pao_catalog.app",
)
PROMETHEUS_OWN = {"up", "ALERTS"}
RULE_FILE_HEADER = (
    "# The alerting rules of deploy/observability/rules.yml for the Prometheus operator.\n"
    "# Generated from it (tests/deploy/test_alert_rules.py keeps them equal): edit rules.yml,\n"
    "# then run `python -m tests.deploy.test_alert_rules` to rewrite this file.\n"
)


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing; .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return binary


def run_promtool(*args: str) -> None:
    result = subprocess.run(
        [promtool(), *args], cwd=OBSERVABILITY, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_are_valid() -> None:
    run_promtool("check", "rules", str(RULES))


def test_every_alert_fires_in_its_unit_test_and_stays_quiet_on_healthy_series() -> None:
    tests = yaml.safe_load((OBSERVABILITY / "rules.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    quiet = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if not case["exp_alerts"]
    }
    assert tested == firing == quiet == set(alerts())
    run_promtool("test", "rules", "rules.test.yml")


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}


def test_each_alert_has_a_runbook_section() -> None:
    headings = {
        line.removeprefix("### ").strip()
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("### ")
    }
    for name, rule in alerts().items():
        assert name in headings, f"docs/operations.md has no '### {name}' runbook section"
        assert rule["annotations"]["runbook_url"] == f"docs/operations.md#{name.lower()}"


def prometheus_rule_document() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "pao",
            "namespace": "pao",
            "labels": {"app.kubernetes.io/part-of": "pao"},
        },
        "spec": {"groups": rule_groups()},
    }


def test_the_prometheus_rule_manifest_carries_the_same_rules() -> None:
    found = yaml.safe_load((MONITORING / "prometheus-rule.yaml").read_text())
    assert found == prometheus_rule_document(), (
        "deploy/k8s/monitoring/prometheus-rule.yaml differs from rules.yml: "
        "run python -m tests.deploy.test_alert_rules"
    )


def services() -> list[dict[str, Any]]:
    docs = [d for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    return [d for d in docs if d and d["kind"] == "Service"]


def test_the_service_monitor_scrapes_every_service() -> None:
    monitor = yaml.safe_load((MONITORING / "service-monitor.yaml").read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    spec = monitor["spec"]
    wanted = spec["selector"]["matchLabels"]
    port = spec["endpoints"][0]["port"]
    assert spec["endpoints"][0]["path"] == "/metrics"
    found = services()
    assert len(found) >= 8
    for service in found:
        labels = service["metadata"].get("labels", {})
        name = service["metadata"]["name"]
        assert wanted.items() <= labels.items(), f"{name} is not selected by the ServiceMonitor"
        # The alert rules match jobs pao-*: the job label is the Service's name label.
        assert labels[spec["jobLabel"]] == name and name.startswith("pao-")
        assert port in {p["name"] for p in service["spec"]["ports"]}, name
        assert service["metadata"]["namespace"] in spec["namespaceSelector"]["matchNames"]
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    present = {p.name for p in MONITORING.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == present


def sample_names(families: Iterable[Metric]) -> set[str]:
    """The names the samples of ``families`` have (or would have: a labelled metric with
    no series yet is declared all the same)."""
    names: set[str] = set()
    for family in families:
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ("",))
        names |= {family.name + s for s in suffixes}
    return names


def exported_names() -> set[str]:
    """Every sample name the services' metrics produce (from the registry)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    return sample_names(REGISTRY.collect())


def used_metrics() -> dict[str, str]:
    """Every metric the alert rules and the dashboard use, with where it is used."""
    used: dict[str, str] = {}
    for rule in alerts().values():
        for name in metric_names(rule["expr"]):
            used[name] = f"rule {rule['alert']}"
    for expr in dashboard_exprs():
        for name in metric_names(expr):
            used.setdefault(name, f"dashboard: {expr}")
    return used


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return set(re.findall(r"\bpao_[a-z0-9_]+\b", without_strings)) | (
        PROMETHEUS_OWN & set(re.findall(r"\b[A-Za-z_]+\b", without_strings))
    )


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    exprs += [a["expr"] for a in board["annotations"]["list"]]
    return exprs


def test_every_metric_in_the_rules_and_the_dashboard_is_exported() -> None:
    exported = exported_names() | PROMETHEUS_OWN
    used = used_metrics()
    assert len(used) > 15
    missing = {name: where for name, where in used.items() if name not in exported}
    assert not missing, f"not exported by any service: {missing}"


def test_the_dashboard_is_grafana_json_over_a_prometheus_data_source() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]


if __name__ == "__main__":
    (MONITORING / "prometheus-rule.yaml").write_text(
        RULE_FILE_HEADER + yaml.safe_dump(prometheus_rule_document(), sort_keys=False, width=100)
    )

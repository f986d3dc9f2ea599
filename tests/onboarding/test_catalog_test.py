"""``pao catalog test``: examples through preview, checked against their ``expect:``.

The item is docs/catalog-schema.md's complete example with the examples of its
"expectations" section, so the documented YAML is what is tested."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import JUnitXml

from tests.onboarding.support import CATALOG, ROOT, pao

DOC = (ROOT / "docs" / "catalog-schema.md").read_text()
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.DOTALL)
ITEM = yaml.safe_load(next(b for b in BLOCKS if "id: object-bucket" in b))
EXPECTING = yaml.safe_load(next(b for b in BLOCKS if "name: bad-bucket-name" in b))


def _item(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(ITEM)
    doc["examples"] = copy.deepcopy(EXPECTING["examples"])
    for key, value in changes.items():
        doc[key] = value
    return doc


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "bucket.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_documented_expectations_pass(tmp_path: Path) -> None:
    path = _write(tmp_path, _item())
    assert pao("catalog", "validate", str(path)).exit_code == 0
    result = pao("catalog", "test", str(path))
    assert result.exit_code == 0, result.output
    assert "ok   object-bucket/dev-bucket" in result.output
    assert "ok   object-bucket/bad-bucket-name" in result.output
    assert result.output.splitlines()[-1] == "2 example(s): 2 passed, 0 failed"


def test_a_template_change_that_breaks_the_step_fails(tmp_path: Path) -> None:
    doc = _item()
    step = doc["fulfillment"]["automated"]["steps"][0]
    step["with"]["url"] = "https://storage-api.example.com/v2/buckets/{{ inputs.bucket }}"
    result = pao("catalog", "test", str(_write(tmp_path, doc)))
    assert result.exit_code == 1
    assert "FAIL object-bucket/dev-bucket" in result.output
    assert (
        "steps.create.with.url: expected 'https://storage-api.example.com/v1/buckets/"
        "team-artifacts', got 'https://storage-api.example.com/v2/buckets/team-artifacts'"
    ) in result.output
    assert result.output.splitlines()[-1] == "2 example(s): 1 passed, 1 failed"


@pytest.mark.parametrize(
    ("expect", "problem"),
    [
        ({"approval": True}, "approval: expected True, got False"),
        ({"outputs": {"arn": "arn:aws:s3:::x"}}, "outputs.arn: expected 'arn:aws:s3:::x'"),
        ({"outputs": {"region": "eu"}}, "outputs.region: missing (expected 'eu')"),
        ({"steps": {"create": {"runs": False}}}, "steps.create.runs: expected False, got True"),
        (
            {"steps": {"create": {"rollback": {"method": "POST"}}}},
            "rollback.method: expected 'POST'",
        ),
        ({"jira": {"project": "STOR"}}, "jira: expected a ticket, the item renders none"),
        ({"fallback_jira": {"labels": ["other"]}}, "fallback_jira.labels: expected ['other']"),
    ],
)
def test_each_kind_of_expectation_can_fail(
    tmp_path: Path, expect: dict[str, Any], problem: str
) -> None:
    doc = _item()
    doc["examples"][0]["expect"] = expect
    result = pao("catalog", "test", str(_write(tmp_path, doc)))
    assert result.exit_code == 1
    assert problem in result.output


def test_expected_errors_must_be_exactly_the_errors(tmp_path: Path) -> None:
    doc = _item()
    bad = doc["examples"][1]
    bad["inputs"] = {"bucket": "Team_Artifacts", "expire_days": 0}
    result = pao("catalog", "test", str(_write(tmp_path, doc)))
    assert result.exit_code == 1
    assert "unexpected error on expire_days" in result.output
    bad["inputs"] = {"bucket": "Team_Artifacts"}
    bad["expect"]["errors"][0]["message"] = "no such words"
    result = pao("catalog", "test", str(_write(tmp_path, doc)))
    assert result.exit_code == 1
    assert "error on bucket: expected a message containing 'no such words'" in result.output


def test_validation_refuses_expectations_that_cannot_hold(tmp_path: Path) -> None:
    doc = _item()
    doc["examples"][1]["inputs"] = {"bucket": "fine-name"}
    doc["examples"][0]["expect"]["steps"]["nope"] = {"runs": True}
    result = pao("catalog", "validate", str(_write(tmp_path, doc)))
    assert result.exit_code == 1
    assert "examples[1].expect.errors: the example expects errors but its inputs are valid" in (
        result.output
    )
    assert "examples[0].expect.steps.nope: no step 'nope' in this item" in result.output
    only_bad = _item()
    only_bad["examples"] = [only_bad["examples"][1]]
    refused = pao("catalog", "validate", str(_write(tmp_path, only_bad)))
    assert "at least one example must be valid (every one expects errors)" in refused.output


def test_the_shipped_catalog_passes_and_junit_reads_back(tmp_path: Path) -> None:
    result = pao("catalog", "test", str(CATALOG))
    assert result.exit_code == 0, result.output
    broken = _item()
    broken["examples"][0]["expect"] = {"approval": True}
    report = tmp_path / "report.xml"
    junit = pao("catalog", "test", "--format", "junit", str(_write(tmp_path, broken)))
    assert junit.exit_code == 1
    report.write_text(junit.stdout)
    [suite] = list(JUnitXml.fromfile(str(report)))
    assert (suite.tests, suite.failures) == (2, 1)
    cases = {c.name: c for c in suite}
    assert cases["object-bucket/bad-bucket-name"].is_passed
    [failure] = cases["object-bucket/dev-bucket"].result
    assert failure.message == "approval: expected True, got False"


def test_an_invalid_document_fails_the_run(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('schemaVersion: "2.0"\nmetadata: {id: x}\n')
    result = pao("catalog", "test", str(path))
    assert result.exit_code == 1
    assert "FAIL" in result.output and "metadata" in result.output

"""``pao catalog validate --format ...``: each CI format, checked against the format itself.

GitHub workflow commands are matched line for line, the JUnit report is read back by
junitparser, and the SARIF log is validated against SARIF 2.1.0's published JSON Schema
(vendored in ``formats/``). Every format must carry the same errors at the same places.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft4Validator
from junitparser import Failure, JUnitXml

from tests.onboarding.support import CATALOG, PAO, ROOT, pao

SARIF_SCHEMA = json.loads(
    (Path(__file__).parent / "formats" / "sarif-2.1.0-rtm.5.json").read_text()
)

# Line 3: id breaks the id pattern (column 7, where the value starts); line 5: a number
# where a semver string belongs; line 12: a step id that is not an identifier.
BROKEN = """\
schemaVersion: "2.0"
metadata:
  id: Bad_Id
  name: Broken
  version: 1.0
  owner: platform
  category: debug
fulfillment:
  mode: automated
  automated:
    steps:
      - id: First
        action: debug.log
        with: {message: hi}
examples:
  - {name: basic, user: {id: alice}, inputs: {}}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A team's checkout: one valid and one broken document, paths relative to it."""
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "debug-echo.yaml").write_bytes(
        (CATALOG / "debug-echo.yaml").read_bytes()
    )
    (tmp_path / "catalog" / "broken.yaml").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _errors(fmt_json: str) -> list[tuple[str, int, int, str]]:
    report = json.loads(fmt_json)
    return [
        (d["file"], e["line"], e["column"], f"{e['path']}: {e['message']}")
        for d in report["documents"]
        for e in d["errors"]
    ]


def test_json_lists_errors_with_line_and_column(repo: Path) -> None:
    result = pao("catalog", "validate", "--format", "json", "catalog")
    assert result.exit_code == 1
    errors = _errors(result.stdout)
    places = {(f, line, col) for f, line, col, _ in errors}
    assert ("catalog/broken.yaml", 3, 7) in places
    assert ("catalog/broken.yaml", 5, 12) in places
    assert ("catalog/broken.yaml", 12, 13) in places
    assert any("steps[0].id" in text for *_, text in errors)
    assert all(f == "catalog/broken.yaml" for f, *_ in errors)


def test_github_annotations_exactly(repo: Path) -> None:
    expected = [
        f"::error file={f},line={line},col={col}::{text}"
        for f, line, col, text in _errors(pao("catalog", "validate", "--format", "json").stdout)
    ]
    result = pao("catalog", "validate", "--format", "github", "catalog")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:-1] == expected
    assert lines[-1] == f"2 document(s): 1 valid, {len(expected)} error(s)"
    assert (
        "::error file=catalog/broken.yaml,line=3,col=7::metadata.id: 'Bad_Id' does not match "
        "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
    ) in lines
    command = re.compile(r"^::error file=[^,:]+,line=[0-9]+,col=[0-9]+::[^\r\n]+$")
    assert all(command.match(line) for line in expected)


def test_github_escapes_what_would_end_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file name with a comma and a colon, and a YAML error spanning lines: GitHub's
    # escapes (%2C, %3A in properties; %25, %0A in the message) keep one command per line.
    monkeypatch.chdir(tmp_path)
    odd = tmp_path / "a,b:c.yaml"
    odd.write_text('schemaVersion: "2.0"\nmetadata: [unclosed\n')
    result = pao("catalog", "validate", "--format", "github", odd.name)
    first = result.stdout.splitlines()[0]
    assert first.startswith("::error file=a%2Cb%3Ac.yaml,line=")
    assert "\n" not in first and first.count("::") == 2


def test_junit_report_reads_back_with_a_junit_parser(repo: Path, tmp_path: Path) -> None:
    result = pao("catalog", "validate", "--format", "junit", "catalog")
    assert result.exit_code == 1
    report = tmp_path / "report.xml"
    report.write_text(result.stdout)
    xml = JUnitXml.fromfile(str(report))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.tests, suite.failures, suite.errors) == (2, 1, 0)
    cases = {case.classname: case for case in suite}
    assert set(cases) == {"catalog/broken.yaml", "catalog/debug-echo.yaml"}
    assert cases["catalog/debug-echo.yaml"].is_passed
    assert cases["catalog/debug-echo.yaml"].name == "debug-echo"
    broken = cases["catalog/broken.yaml"]
    assert not broken.is_passed
    [failure] = broken.result
    assert isinstance(failure, Failure)
    assert failure.type == "InvalidCatalogDocument"
    lines = failure.text.splitlines()
    assert (
        "catalog/broken.yaml:3 metadata.id: 'Bad_Id' does not match ^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
        in lines
    )
    assert len(lines) == len(_errors(pao("catalog", "validate", "--format", "json").stdout))


def test_sarif_log_is_valid_sarif_2_1_0(repo: Path) -> None:
    result = pao("catalog", "validate", "--format", "sarif", "catalog")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    problems = sorted(Draft4Validator(SARIF_SCHEMA).iter_errors(log), key=str)
    assert not problems, [p.message for p in problems]
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    found = []
    for res in run["results"]:
        assert rules[res["ruleIndex"]] == res["ruleId"]
        location = res["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        region = location["region"]
        found.append(
            (
                location["artifactLocation"]["uri"],
                region["startLine"],
                region["startColumn"],
                res["message"]["text"],
            )
        )
    assert found == _errors(pao("catalog", "validate", "--format", "json").stdout)
    by_line = {
        line: res["ruleId"] for (_, line, _, _), res in zip(found, run["results"], strict=True)
    }
    assert by_line[3] == "pao/metadata" and by_line[12] == "pao/fulfillment"


def test_sarif_of_a_valid_catalog_has_no_results_and_an_absolute_path_is_a_file_uri(
    tmp_path: Path,
) -> None:
    result = pao("catalog", "validate", "--format", "sarif", str(CATALOG / "debug-echo.yaml"))
    assert result.exit_code == 0, result.output
    log = json.loads(result.stdout)
    assert not list(Draft4Validator(SARIF_SCHEMA).iter_errors(log))
    assert log["runs"][0]["results"] == []
    uri = log["runs"][0]["artifacts"][0]["location"]["uri"]
    assert uri.startswith("file://") or uri == "catalog/debug-echo.yaml"


def test_unreadable_files_are_reported_in_every_format(repo: Path) -> None:
    (repo / "catalog" / "broken.yaml").write_text("schemaVersion: '2.0'\nmetadata: {a: 1\n")
    for fmt in ("text", "github", "junit", "sarif"):
        result = pao("catalog", "validate", "--format", fmt, "catalog")
        assert result.exit_code == 1, fmt
        assert "YAML syntax error" in result.stdout, fmt
    sarif = json.loads(pao("catalog", "validate", "--format", "sarif", "catalog").stdout)
    assert sarif["runs"][0]["results"][0]["ruleId"] == "pao/document"


def test_exit_codes(repo: Path, tmp_path: Path) -> None:
    assert pao("catalog", "validate", "catalog/debug-echo.yaml").exit_code == 0
    assert pao("catalog", "validate", "catalog").exit_code == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    none = pao("catalog", "validate", "--format", "github", str(empty))
    assert none.exit_code == 1 and "::error::no catalog documents found" in none.stdout
    assert pao("catalog", "validate", "no/such/dir").exit_code == 2
    assert pao("catalog", "validate", "--format", "xml", "catalog").exit_code == 2
    bad_actions = tmp_path / "actions.yaml"
    bad_actions.write_text("actions: [{type: debug.log}]\n")
    misused = pao("catalog", "validate", "--actions", str(bad_actions), "catalog")
    assert misused.exit_code == 2 and "--actions" in misused.output


def test_pre_commit_hook_runs_the_validation_on_catalog_files(repo: Path) -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "pao-catalog-validate"
    assert hook["language"] == "python" and hook["require_serial"] is True
    files = re.compile(hook["files"])
    assert files.search("catalog/broken.yaml") and files.search("catalog/sub/x.yml")
    assert not files.search("deploy/k8s/catalog.yaml") and not files.search("catalog/README.md")
    # What pre-commit runs: the entry, then the staged files that match.
    entry = hook["entry"].split()
    assert entry[0] == "pao"
    staged = ["catalog/broken.yaml", "catalog/debug-echo.yaml"]
    failing = subprocess.run(
        [str(PAO), *entry[1:], *staged], capture_output=True, text=True, check=False
    )
    assert failing.returncode == 1
    assert "catalog/broken.yaml:3 metadata.id:" in failing.stdout
    passing = subprocess.run(
        [str(PAO), *entry[1:], "catalog/debug-echo.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert passing.returncode == 0, passing.stdout + passing.stderr

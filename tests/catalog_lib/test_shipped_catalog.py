"""Every document in catalog/ validates, and every example previews; the CLI does both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from pao_catalog_model.actions import ActionRegistry
from pao_catalog_model.loader import load_directory, load_file, parse_yaml
from pao_catalog_model.model import parse_item
from pao_catalog_model.preview import preview, render_operation_plan
from pao_catalog_model.schema import document_schema
from pao_cli.main import main

from tests.catalog_lib.support import minimal, write

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "catalog"
DOCUMENTS = sorted(p for p in CATALOG.glob("*.yaml"))
EXAMPLES = [
    (path, example.name)
    for path in DOCUMENTS
    for example in parse_item(parse_yaml(path.read_bytes())[0]).examples
]
REQUIRED_ITEMS = {
    "debug-echo",
    "firewall-change",
    "dns-record",
    "postgres-database",
    "github-repository",
    "kubernetes-namespace",
    "production-access",
}


def test_published_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(document_schema("2.0"))


def test_the_catalog_covers_the_required_items() -> None:
    results = load_directory(CATALOG, registry=ActionRegistry())
    assert {r.item.metadata.id for r in results if r.item} >= REQUIRED_ITEMS
    modes = {r.item.metadata.id: r.item.fulfillment for r in results if r.item}
    assert modes["firewall-change"].mode == "manual"
    namespace = modes["kubernetes-namespace"].automated
    assert namespace is not None and namespace.fallback_to_manual
    actions = {s.action for f in modes.values() if f.automated for s in f.automated.steps}
    assert {"rest", "terraform", "github-workflow", "debug.log", "jira"} <= actions


def test_the_shipped_items_have_their_day_2_operations() -> None:
    results = load_directory(CATALOG, registry=ActionRegistry())
    items = {r.item.metadata.id: r.item for r in results if r.item}
    for item_id in ("postgres-database", "kubernetes-namespace", "dns-record"):
        item = items[item_id]
        assert [o.id for o in item.operations] == ["update", "decommission"], item_id
        assert all(o.fulfillment.mode == "automated" for o in item.operations), item_id
    firewall = items["firewall-change"]
    assert firewall.decommissionable and firewall.operation("decommission") is not None
    assert firewall.operations[0].fulfillment.mode == "manual"
    assert not items["debug-echo"].decommissionable  # says so, rather than pretending


@pytest.mark.parametrize(("path", "example"), EXAMPLES, ids=lambda v: getattr(v, "name", v))
def test_every_operation_renders_on_every_examples_resource(path: Path, example: str) -> None:
    item = load_file(path, registry=ActionRegistry()).item
    assert item is not None
    chosen = item.example(example)
    assert chosen is not None and not chosen.expects_errors
    for operation in item.operations:
        plan = render_operation_plan(item, operation.id, chosen.inputs, chosen.user)
        text = json.dumps(plan)
        assert "{{" not in text and "{%" not in text, operation.id
        assert ("jira" in plan) == (operation.fulfillment.mode == "manual")
        assert "<resource." not in text  # resource.* are real values, never placeholders


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_shipped_document_validates(path: Path) -> None:
    result = load_file(path, registry=ActionRegistry())
    assert [str(e) for e in result.errors] == []
    assert result.item is not None
    Draft202012Validator(document_schema()).validate(result.document)


@pytest.mark.parametrize(("path", "example"), EXAMPLES, ids=lambda v: getattr(v, "name", v))
def test_every_example_previews(path: Path, example: str) -> None:
    item = load_file(path, registry=ActionRegistry()).item
    assert item is not None
    chosen = item.example(example)
    assert chosen is not None
    shown = preview(item, chosen.inputs, chosen.user)
    assert shown.errors == [] and shown.notes == []
    assert shown.plan is not None
    assert ("jira" in shown.plan) == (item.fulfillment.mode == "manual")
    text = json.dumps(shown.plan)
    assert "{{" not in text and "{%" not in text  # everything rendered
    result = CliRunner().invoke(
        main, ["catalog", "preview", str(path), "--example", example], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "inputs are valid" in result.output


def test_preview_renders_secret_references_and_placeholders() -> None:
    item = load_file(CATALOG / "dns-record.yaml", registry=ActionRegistry()).item
    assert item is not None
    example = item.examples[0]
    plan = preview(item, example.inputs, example.user).plan
    assert plan is not None
    step = plan["steps"][0]
    assert step["with"]["headers"]["Authorization"] == "Bearer ${secret:dns-api/token}"
    assert step["with"]["json"]["ttl"] == 300  # the default, kept as an integer
    assert step["rollback"]["with"]["url"].endswith(
        "/records/<steps.create_record.outputs.record_id>"
    )


def test_preview_decides_approval_and_when() -> None:
    item = load_file(CATALOG / "postgres-database.yaml", registry=ActionRegistry()).item
    assert item is not None
    dev, prod = item.examples
    dev_plan = preview(item, dev.inputs, dev.user).plan
    prod_plan = preview(item, prod.inputs, prod.user).plan
    assert dev_plan is not None and dev_plan["approval"]["required"] is False
    assert prod_plan is not None and prod_plan["approval"]["required"] is True
    access = load_file(CATALOG / "production-access.yaml", registry=ActionRegistry()).item
    assert access is not None
    read, admin = access.examples
    read_plan = preview(access, read.inputs, read.user).plan
    assert read_plan is not None and read_plan["steps"][1]["runs"] is False
    assert read_plan["approval"]["approver_users"] == ["mia"]  # the requester's manager
    stages = read_plan["approval"]["stages"]
    assert [(s["name"], s["approver_users"], s["approver_teams"]) for s in stages] == [
        ("manager", ["mia"], []),
        ("security", [], ["security"]),
    ]
    assert read_plan["approval"]["problem"] is None
    no_manager = read.user.model_copy(update={"manager": None})
    plan = preview(access, read.inputs, no_manager).plan
    assert plan is not None and plan["approval"]["problem"].startswith(
        "approval stage 1 (manager): nobody can approve it: it names the requester's manager"
    )
    admin_plan = preview(access, admin.inputs, admin.user).plan
    assert admin_plan is not None and admin_plan["steps"][1]["runs"] is True


# --- the CLI -----------------------------------------------------------------------------


def test_cli_validate_the_shipped_catalog() -> None:
    result = CliRunner().invoke(main, ["catalog", "validate", str(CATALOG)])
    assert result.exit_code == 0, result.output
    assert f"{len(DOCUMENTS)} document(s): {len(DOCUMENTS)} valid, 0 error(s)" in result.output


def test_cli_validate_lists_every_error_and_exits_non_zero(tmp_path: Path) -> None:
    good = write(tmp_path, minimal(), "good.yaml")
    bad = minimal()
    bad["metadata"]["id"] = "bad"
    bad["fulfillment"]["automated"]["steps"][0]["with"]["message"] = "{{ inputs.dbname }}"
    bad["fulfillment"]["automated"]["steps"][1]["action"] = "nope"
    write(tmp_path, bad, "bad.yaml")
    write(tmp_path, b"\x00\x00", "binary.yaml")
    result = CliRunner().invoke(main, ["catalog", "validate", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 4, result.output
    assert re.match(
        r".*bad\.yaml:\d+ fulfillment\.automated\.steps\[0\]\.with\.message: "
        r"unknown variable inputs\.dbname",
        lines[0],
    )
    assert re.match(
        r".*bad\.yaml:\d+ fulfillment\.automated\.steps\[1\]\.action: unknown action type 'nope'",
        lines[1],
    )
    assert re.match(r".*binary\.yaml: binary data", lines[2])
    assert lines[3] == "3 document(s): 1 valid, 3 error(s)"
    single = CliRunner().invoke(main, ["catalog", "validate", str(good)])
    assert single.exit_code == 0


def test_cli_validate_json_and_actions_file(tmp_path: Path) -> None:
    doc = minimal()
    doc["fulfillment"]["automated"]["steps"][0] = {"id": "first", "action": "acme.dns", "with": {}}
    path = write(tmp_path, doc)
    registry = tmp_path / "registry.yml"
    registry.write_text("actions:\n  - type: acme.dns\n")
    plain = CliRunner().invoke(main, ["catalog", "validate", "--format", "json", str(path)])
    assert plain.exit_code == 1
    report = json.loads(plain.output)
    assert report["valid"] is False and "acme.dns" in report["documents"][0]["errors"][0]["message"]
    declared = CliRunner().invoke(
        main, ["catalog", "validate", "--actions", str(registry), str(path)]
    )
    assert declared.exit_code == 0, declared.output


def test_cli_validate_defaults_to_the_catalog_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, minimal())
    monkeypatch.setenv("PAO_CATALOG_DIR", str(tmp_path))
    assert CliRunner().invoke(main, ["catalog", "validate"]).exit_code == 0
    monkeypatch.setenv("PAO_CATALOG_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    assert CliRunner().invoke(main, ["catalog", "validate"]).exit_code == 1


def test_cli_preview_by_id_with_inputs_file_and_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAO_CATALOG_DIR", str(CATALOG))
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(yaml.safe_dump({"message": "from a file"}))
    result = CliRunner().invoke(
        main,
        [
            "catalog",
            "preview",
            "debug-echo",
            "--inputs",
            str(inputs),
            "--user",
            "zed",
            "--team",
            "qa",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["valid"] is True
    assert shown["plan"]["steps"][0]["with"] == {"message": "from a file"}
    assert shown["user"] == {"id": "zed", "teams": ["qa"], "roles": []}
    assert shown["form"]["schema"]["required"] == ["message"]


def test_cli_preview_invalid_inputs_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAO_CATALOG_DIR", str(CATALOG))
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"message": ""}))
    result = CliRunner().invoke(main, ["catalog", "preview", "debug-echo", "--inputs", str(inputs)])
    assert result.exit_code == 1
    assert "message: must be at least 1 characters long" in result.output


def test_cli_preview_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAO_CATALOG_DIR", str(CATALOG))
    unknown = CliRunner().invoke(main, ["catalog", "preview", "no-such-item"])
    assert unknown.exit_code == 1 and "no catalog item 'no-such-item'" in unknown.output
    missing = CliRunner().invoke(main, ["catalog", "preview", "debug-echo", "--example", "nope"])
    assert missing.exit_code == 1 and "examples: hello" in missing.output
    bad = write(tmp_path, b"\x00")
    broken = CliRunner().invoke(main, ["catalog", "preview", str(bad)])
    assert broken.exit_code == 1 and "not a valid catalog document" in broken.output

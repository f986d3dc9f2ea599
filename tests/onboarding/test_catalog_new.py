"""``pao catalog new``: every starting point gives a valid item with an example, by flags
(``--yes``) and by answering prompts in a real pseudo-terminal."""

from __future__ import annotations

import os
from pathlib import Path

import pexpect
import pytest
import yaml
from pao_catalog_model.loader import load_file
from pao_catalog_model.preview import preview

from tests.onboarding.support import CATALOG, PAO, pao

STARTERS = ("manual-jira", "terraform", "github-workflow", "rest")
SCHEMA_LINE = (
    "# yaml-language-server: $schema=http://127.0.0.1:8081/schemas/catalog-v2.0.schema.json"
)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAO_CATALOG_DIR", str(tmp_path / "catalog"))
    for name in ("PAO_SCHEMA_URL", "PAO_CATALOG_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _valid(path: Path) -> None:
    result = load_file(path)
    assert result.ok, [str(e) for e in result.errors]
    assert result.item is not None and result.item.examples
    for example in result.item.examples:
        shown = preview(result.item, example.inputs, example.user)
        assert not shown.errors and shown.plan is not None


@pytest.mark.parametrize("starter", STARTERS)
def test_yes_gives_a_valid_item_for_every_starter(workdir: Path, starter: str) -> None:
    result = pao("catalog", "new", "--from", starter, "--yes", "--id", f"team-{starter}")
    assert result.exit_code == 0, result.output
    path = workdir / "catalog" / f"team-{starter}.yaml"
    text = path.read_text()
    assert text.splitlines()[0] == SCHEMA_LINE
    assert "# What the item is." in text and "# access:" in text
    _valid(path)
    assert pao("catalog", "validate", str(path)).exit_code == 0
    mode = yaml.safe_load(text)["fulfillment"]["mode"]
    assert mode == ("manual" if starter == "manual-jira" else "automated")


def test_flags_choose_fields_and_settings(workdir: Path) -> None:
    result = pao(
        "catalog",
        "new",
        "--from",
        "terraform",
        "--yes",
        "--id",
        "object-bucket",
        "--name",
        "Object bucket",
        "--owner",
        "storage",
        "--category",
        "storage",
        "--description",
        "An S3 bucket.",
        "--field",
        "bucket:string:Bucket name",
        "--required",
        "bucket",
        "--field",
        "tier:select:Tier:hot,cold",
        "--field",
        "expire_days:integer:Delete after (days)",
        "--field",
        "regions:multiselect:Regions:eu,us",
        "--set",
        "workspace=bucket-{{ inputs.bucket }}",
        "--set",
        "organization=acme",
        "--out",
        "buckets/object-bucket.yaml",
        "--schema-url",
        "./catalog-v2.0.schema.json",
    )
    assert result.exit_code == 0, result.output
    path = workdir / "buckets" / "object-bucket.yaml"
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=./catalog-v2.0.schema.json\n"
    )
    _valid(path)
    doc = yaml.safe_load(path.read_text())
    assert doc["metadata"] | {} == {
        "id": "object-bucket",
        "name": "Object bucket",
        "version": "0.1.0",
        "owner": "storage",
        "category": "storage",
        "description": "An S3 bucket.",
    }
    fields = {f["id"]: f for f in doc["presentation"]["fields"]}
    assert fields["bucket"] == {
        "id": "bucket",
        "type": "string",
        "label": "Bucket name",
        "required": True,
    }
    assert fields["tier"]["options"] == ["hot", "cold"]
    step = doc["fulfillment"]["automated"]["steps"][0]
    assert step["with"]["workspace"] == "bucket-{{ inputs.bucket }}"
    assert step["with"]["organization"] == "acme"
    assert step["with"]["variables"] == {
        "bucket": "{{ inputs.bucket }}",
        "tier": "{{ inputs.tier | default(none) }}",
        "expire_days": "{{ inputs.expire_days | default(none) }}",
        "regions": "{{ inputs.regions | default(none) }}",
    }
    assert doc["examples"][0]["inputs"] == {
        "bucket": "example-bucket",
        "tier": "hot",
        "expire_days": 1,
        "regions": ["eu"],
    }


def test_from_an_existing_item_copies_it_under_a_new_id(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAO_CATALOG_DIR", str(CATALOG))
    out = workdir / "mine.yaml"
    result = pao(
        "catalog",
        "new",
        "--from",
        "postgres-database",
        "--yes",
        "--id",
        "ledger-database",
        "--owner",
        "ledger",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    _valid(out)
    doc = yaml.safe_load(out.read_text())
    original = yaml.safe_load((CATALOG / "postgres-database.yaml").read_text())
    assert doc["metadata"]["id"] == "ledger-database" and doc["metadata"]["version"] == "0.1.0"
    assert doc["metadata"]["owner"] == "ledger"
    assert doc["fulfillment"] == original["fulfillment"]
    assert doc["presentation"] == original["presentation"]
    assert "copied from postgres-database" in out.read_text()
    # Both in one catalog: the copy's new id keeps the ids unique.
    assert pao("catalog", "validate", str(CATALOG), str(out)).exit_code == 0


def test_refusals_say_what_and_write_nothing(workdir: Path) -> None:
    bad_id = pao("catalog", "new", "--yes", "--id", "Bad_Id")
    assert bad_id.exit_code == 2 and "item id 'Bad_Id'" in bad_id.output
    no_options = pao("catalog", "new", "--yes", "--field", "size:select")
    assert no_options.exit_code == 2 and "a select needs options" in no_options.output
    bad_type = pao("catalog", "new", "--yes", "--field", "admins:list")
    assert bad_type.exit_code == 2 and "write a list's columns by hand" in bad_type.output
    bad_set = pao("catalog", "new", "--from", "rest", "--yes", "--set", "workspace=x")
    assert bad_set.exit_code == 2 and "rest takes method=..., url=..." in bad_set.output
    mixed = pao("catalog", "new", "--from", "debug-echo", "--yes", "--field", "x")
    assert mixed.exit_code == 2 and "keeps the item's own fields" in mixed.output
    unknown = pao("catalog", "new", "--from", "no-such-item", "--yes")
    assert unknown.exit_code == 1 and "no catalog item 'no-such-item'" in unknown.output
    assert not (workdir / "catalog").exists()
    assert pao("catalog", "new", "--yes", "--id", "twice").exit_code == 0
    again = pao("catalog", "new", "--yes", "--id", "twice")
    assert again.exit_code == 1 and "exists (--force replaces it)" in again.output
    assert pao("catalog", "new", "--yes", "--id", "twice", "--force").exit_code == 0


def test_a_broken_template_is_refused_before_writing(workdir: Path) -> None:
    result = pao(
        "catalog", "new", "--from", "rest", "--yes", "--set", "url=https://x/{{ inputs.nope }}"
    )
    assert result.exit_code == 1
    assert "unknown variable inputs.nope" in result.output
    assert "nothing written" in result.output
    assert not (workdir / "catalog").exists()


def test_interactive_prompts_in_a_pseudo_terminal(workdir: Path) -> None:
    env = {**os.environ, "PAO_CATALOG_DIR": str(workdir / "catalog"), "TERM": "dumb"}
    env.pop("PAO_SCHEMA_URL", None)
    child = pexpect.spawn(
        str(PAO),
        ["catalog", "new", "--from", "terraform"],
        cwd=str(workdir),
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    try:
        child.expect_exact("Item id [my-service]: ")
        child.sendline("Not An Id")  # refused: asked again, with the reason
        child.expect_exact("Error: item id 'Not An Id'")
        child.expect_exact("Item id [my-service]: ")
        child.sendline("cache-cluster")
        child.expect_exact("Name [Cache cluster]: ")
        child.sendline("")  # the default
        child.expect_exact("Owning team [platform]: ")
        child.sendline("caching")
        child.expect_exact("Category [infrastructure]: ")
        child.sendline("")
        child.expect_exact("Description [Cache cluster, on request.]: ")
        child.sendline("A Redis cluster.")
        child.expect_exact("Form fields: name (string, required);")
        child.expect_exact("Keep these fields? [Y/n]: ")
        child.sendline("n")
        child.expect_exact("Add a field: id (empty to finish): ")
        child.sendline("cluster_name")
        child.expect_exact("  Type (")
        child.expect_exact("[string]: ")
        child.sendline("")
        child.expect_exact("  Label [Cluster name]: ")
        child.sendline("")
        child.expect_exact("  Required? [y/N]: ")
        child.sendline("y")
        child.expect_exact("Add a field: id (empty to finish): ")
        child.sendline("memory_gb")
        child.expect_exact("[string]: ")
        child.sendline("integer")
        child.expect_exact("  Label [Memory gb]: ")
        child.sendline("Memory (GB)")
        child.expect_exact("  Required? [y/N]: ")
        child.sendline("")
        child.expect_exact("Add a field: id (empty to finish): ")
        child.sendline("engine")
        child.expect_exact("[string]: ")
        child.sendline("select")
        child.expect_exact("  Label [Engine]: ")
        child.sendline("")
        child.expect_exact("  Required? [y/N]: ")
        child.sendline("y")
        child.expect_exact("  Options (comma-separated): ")
        child.sendline("redis, valkey")
        child.expect_exact("Add a field: id (empty to finish): ")
        child.sendline("")
        child.expect_exact("Terraform workspace (a template) [cache-cluster-{{ request.id }}]: ")
        child.sendline("cache-{{ inputs.cluster_name }}")
        child.expect_exact("Terraform Cloud organization (empty: the executor's) []: ")
        child.sendline("")
        child.expect_exact(f"Write to [{workdir / 'catalog' / 'cache-cluster.yaml'}]: ")
        child.sendline("")
        child.expect_exact("wrote ")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    path = workdir / "catalog" / "cache-cluster.yaml"
    _valid(path)
    doc = yaml.safe_load(path.read_text())
    assert doc["metadata"]["owner"] == "caching"
    assert doc["metadata"]["description"] == "A Redis cluster."
    assert [
        (f["id"], f["type"], f.get("required", False)) for f in doc["presentation"]["fields"]
    ] == [
        ("cluster_name", "string", True),
        ("memory_gb", "integer", False),
        ("engine", "select", True),
    ]
    assert doc["presentation"]["fields"][2]["options"] == ["redis", "valkey"]
    step = doc["fulfillment"]["automated"]["steps"][0]
    assert step["with"]["workspace"] == "cache-{{ inputs.cluster_name }}"
    assert "organization" not in step["with"]

"""docs/catalog-schema.md: its complete example validates and its fragments are YAML."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pao_catalog_model.actions import ActionRegistry, default_registry
from pao_catalog_model.loader import load_bytes
from pao_catalog_model.schema import document_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog-schema.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```yaml\n(.*?)```", TEXT, re.DOTALL)


def test_complete_example_validates() -> None:
    complete = TEXT.split("## Complete example", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", complete, re.DOTALL)
    assert block is not None
    result = load_bytes(block.group(1).encode(), "complete-example.yaml", registry=ActionRegistry())
    assert [str(e) for e in result.errors] == []


def test_every_yaml_fragment_parses() -> None:
    assert len(BLOCKS) >= 10
    for block in BLOCKS:
        yaml.safe_load(block)


def test_action_registry_example_is_accepted(tmp_path: Path) -> None:
    block = next(b for b in BLOCKS if b.startswith("actions:"))
    path = tmp_path / "registry.yml"
    path.write_text(block)
    registry = default_registry({}, extra_file=path)
    assert registry.get("acme.certificate").supports_rollback


def test_every_schema_field_is_documented() -> None:
    schema = document_schema()
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                names.add(key)
                walk(value)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    fences = re.sub(r"```.*?```", " ", TEXT, flags=re.DOTALL)  # tables and prose, not examples
    code = " ".join(re.findall(r"`([^`]+)`", fences))
    missing = sorted(n for n in names if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", code))
    assert missing == []

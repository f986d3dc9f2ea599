"""Building catalog documents for the tests: a minimal valid item, changed per test."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pao_catalog_model.actions import ActionRegistry
from pao_catalog_model.loader import LoadResult, load_file

MINIMAL: dict[str, Any] = {
    "schemaVersion": "2.0",
    "metadata": {
        "id": "sample",
        "name": "Sample",
        "version": "1.0.0",
        "owner": "platform",
        "category": "debug",
    },
    "presentation": {
        "fields": [
            {"id": "name", "type": "string", "label": "Name", "required": True},
            {"id": "size", "type": "integer", "label": "Size", "default": 1},
        ]
    },
    "fulfillment": {
        "mode": "automated",
        "automated": {
            "steps": [
                {"id": "first", "action": "debug.log", "with": {"message": "{{ inputs.name }}"}},
                {
                    "id": "second",
                    "action": "debug.log",
                    "with": {"message": "{{ steps.first.outputs.message }}"},
                },
            ],
            "outputs": {"message": "{{ steps.second.outputs.message }}"},
        },
    },
    "examples": [{"name": "basic", "user": {"id": "alice"}, "inputs": {"name": "x"}}],
}


def minimal() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


def manual() -> dict[str, Any]:
    doc = minimal()
    doc["fulfillment"] = {
        "mode": "manual",
        "manual": {"jira": {"project": "OPS", "summary": "Please do {{ inputs.name }}"}},
    }
    return doc


def write(tmp_path: Path, doc: dict[str, Any] | str | bytes, name: str = "item.yaml") -> Path:
    path = tmp_path / name
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    elif isinstance(doc, str):
        path.write_text(doc)
    else:
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def load(
    tmp_path: Path, doc: dict[str, Any] | str | bytes, registry: ActionRegistry | None = None
) -> LoadResult:
    return load_file(write(tmp_path, doc), registry=registry or ActionRegistry())


def messages(result: LoadResult) -> list[str]:
    return [f"{e.path}: {e.message}" for e in result.errors]


def field(**values: Any) -> dict[str, Any]:
    return {"id": "f", "type": "string", "label": "F"} | values

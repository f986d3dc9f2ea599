"""Catalog documents for the service tests and the benchmark, written as YAML files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def item_document(
    item_id: str,
    *,
    version: str = "1.0.0",
    name: str | None = None,
    category: str = "databases",
    owner: str = "team-data",
    tags: Sequence[str] = ("postgres",),
    description: str = "A managed database for a team.",
    lifecycle: str = "active",
    max_size_gb: int = 100,
) -> dict[str, Any]:
    """A small but complete manual-fulfilment item with a form of four fields."""
    return {
        "schemaVersion": "2.0",
        "metadata": {
            "id": item_id,
            "name": name or f"Item {item_id}",
            "version": version,
            "owner": owner,
            "category": category,
            "tags": list(tags),
            "description": description,
            "lifecycle": lifecycle,
        },
        "presentation": {
            "fields": [
                {
                    "id": "name",
                    "type": "string",
                    "label": "Name",
                    "required": True,
                    "validation": {
                        "pattern": "^[a-z][a-z0-9-]{2,30}$",
                        "messages": {"pattern": "lower-case letters, digits and dashes"},
                    },
                },
                {
                    "id": "size_gb",
                    "type": "integer",
                    "label": "Size (GB)",
                    "default": 10,
                    "validation": {"minimum": 1, "maximum": max_size_gb},
                },
                {
                    "id": "environment",
                    "type": "select",
                    "label": "Environment",
                    "required": True,
                    "options": [
                        {"value": "dev", "label": "Development"},
                        {"value": "prod", "label": "Production"},
                    ],
                },
                {"id": "notes", "type": "text", "label": "Notes"},
            ]
        },
        "fulfillment": {
            "mode": "manual",
            "manual": {
                "jira": {
                    "project": "OPS",
                    "summary": "Provide {{ inputs.name }} ({{ inputs.size_gb }} GB), {{ user.id }}",
                    "description": "Environment: {{ inputs.environment }}",
                }
            },
        },
        "examples": [
            {
                "name": "small",
                "user": {"id": "alice", "teams": ["team-app"]},
                "inputs": {"name": "orders-db", "size_gb": 5, "environment": "dev"},
            }
        ],
    }


def write_item(directory: Path, document: dict[str, Any], filename: str | None = None) -> Path:
    """Write ``document`` as YAML (atomically, as an editor or a deploy would)."""
    path = directory / (filename or f"{document['metadata']['id']}.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(document, sort_keys=False))
    tmp.replace(path)
    return path

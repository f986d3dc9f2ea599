"""A catalog item with a resource and day-2 operations, for the resource tests."""

from __future__ import annotations

from typing import Any

from pao_catalog_model.model import CatalogItem

from tests.orchestrator.items import build_item

ITEM_ID = "pg-db"


def resource_item(*, version: str = "1.2.0") -> CatalogItem:
    """postgres-database-like: provisioning returns an endpoint and a secret reference;
    ``update`` resizes (its step reads the resource's endpoint), ``decommission`` drops it
    (no rollback), ``rotate`` is a manual ticket, ``audit`` is for the dba team only."""
    provision: dict[str, Any] = {
        "mode": "automated",
        "automated": {
            "steps": [
                {
                    "id": "provision",
                    "action": "terraform.run",
                    "with": {"workspace": "pg-{{ inputs.name }}", "size": "{{ inputs.size }}"},
                    "rollback": {"with": {"workspace": "pg-{{ inputs.name }}", "destroy": True}},
                }
            ],
            "outputs": {
                "endpoint": "{{ steps.provision.outputs.endpoint }}",
                "password": "${secret:pg/{{ inputs.name }}}",
            },
        },
    }
    update = {
        "id": "update",
        "title": "Resize",
        "presentation": {
            "fields": [
                {"id": "size", "type": "integer", "label": "Size", "required": True},
                {"id": "name", "type": "string", "label": "Name"},
                {"id": "reason", "type": "string", "label": "Why"},
            ]
        },
        "fulfillment": {
            "mode": "automated",
            "automated": {
                "steps": [
                    {
                        "id": "resize",
                        "action": "rest.call",
                        "with": {
                            "endpoint": "{{ resource.outputs.endpoint }}",
                            "size": "{{ inputs.size }}",
                            "was": "{{ resource.inputs.size }}",
                            "resource": "{{ resource.name }}",
                        },
                    }
                ],
                "outputs": {"size_applied": "{{ inputs.size }}"},
            },
        },
    }
    decommission = {
        "id": "decommission",
        "title": "Decommission",
        "fulfillment": {
            "mode": "automated",
            "automated": {
                "steps": [
                    {
                        "id": "drop",
                        "action": "terraform.run",
                        "with": {"workspace": "pg-{{ resource.inputs.name }}", "destroy": True},
                    }
                ],
                "outputs": {"dropped": "{{ resource.outputs.endpoint }}"},
            },
        },
    }
    rotate = {
        "id": "rotate",
        "title": "Rotate credentials",
        "fulfillment": {
            "mode": "manual",
            "manual": {"jira": {"project": "OPS", "summary": "Rotate {{ resource.name }}"}},
        },
    }
    audit = {
        "id": "audit",
        "title": "Audit",
        "access": {"teams": ["dba"]},
        "approval": {"required": True, "approvers": {"teams": ["dba"]}},
        "fulfillment": {
            "mode": "manual",
            "manual": {"jira": {"project": "OPS", "summary": "Audit {{ resource.id }}"}},
        },
    }
    return build_item(
        provision,
        id=ITEM_ID,
        version=version,
        resource={"name": "pg-{{ inputs.name }}"},
        operations=[update, decommission, rotate, audit],
    )

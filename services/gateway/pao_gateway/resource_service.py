"""What the resource endpoints do: list and show with visibility, say which operations
may run now (with their forms), and run one.

A resource another team owns is ``NotFound`` (404, as a resource that does not exist:
its existence is not told). The operations' forms and checks are the catalog's own
(``pao_catalog.forms``), over the item version the resource was made with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pao_catalog.forms import operation_form, operations_summary
from pao_catalog.model import DECOMMISSION, CatalogItem, Operation

from pao_gateway.catalog_items import ItemVersions, PinnedItem, access_refusal
from pao_gateway.errors import NotFound
from pao_gateway.identity import User
from pao_gateway.resource_reads import Cursor, ResourceFilter, ResourceReader, can_see_resource
from pao_gateway.schemas import API


def label(row: dict[str, Any]) -> str:
    return f"resource {row['name']} ({row['resource_id']})"


def state_refusal(row: dict[str, Any], pinned: PinnedItem | None) -> str | None:
    """Why no operation may run on the resource now (None: its state allows one); the
    orchestrator refuses the same cases."""
    if row["status"] == "decommissioned":
        return f"{label(row)} is decommissioned"
    if row.get("active_request_id"):
        running = row.get("active_operation") or "provisioning"
        return f"{label(row)} is busy with request {row['active_request_id']} ({running})"
    if row["status"] != "active":
        return f"{label(row)} is {row['status']}, not active"
    if pinned is None:
        return f"item {row['item_id']} version {row['item_version']} is not in the catalog"
    return None


def decommission_note(item: CatalogItem | None) -> str | None:
    """What an item without a ``decommission`` operation says about its resources."""
    if item is None or item.decommissionable:
        return None
    return (
        f"{item.metadata.id} declares no {DECOMMISSION} operation: PAO cannot decommission"
        f" its resources; ask its owner ({item.metadata.owner}) to remove one"
    )


def operation_refusal(user: User, pinned: PinnedItem, operation: Operation) -> str | None:
    """The operation's ``access`` (else the item's) for ``user``; platform admins pass."""
    access = operation.access or pinned.item.access
    refusal = access_refusal(user, pinned.item_id, access)
    if refusal is None:
        return None
    return refusal.replace("may only be requested by", f"{operation.id} may only be run by")


@dataclass(frozen=True)
class OperationChoice:
    """The answer of ``GET /resources/{id}/operations``."""

    row: dict[str, Any]
    item: CatalogItem | None
    reason: str | None
    allowed: list[dict[str, Any]]
    unavailable: list[dict[str, Any]]


class ResourceService:
    def __init__(self, *, reader: ResourceReader, versions: ItemVersions) -> None:
        self._reader = reader
        self._versions = versions

    async def visible(self, user: User, resource_id: str) -> dict[str, Any]:
        """The resource's row; ``NotFound`` also when the caller may not see it."""
        row = await self._reader.get(resource_id)
        if row is None or not can_see_resource(user, row):
            raise NotFound(f"no resource {resource_id}")
        return row

    async def page(
        self, user: User, filters: ResourceFilter, *, limit: int, after: Cursor | None
    ) -> list[dict[str, Any]]:
        return await self._reader.page(user, filters, limit=limit, after=after)

    async def operations(self, user: User, resource_id: str) -> OperationChoice:
        row = await self.visible(user, resource_id)
        pinned = await self._versions.pinned(row["item_id"], row["item_version"])
        reason = state_refusal(row, pinned)
        allowed: list[dict[str, Any]] = []
        unavailable: list[dict[str, Any]] = []
        if pinned is not None:
            summaries = {s["id"]: s for s in operations_summary(pinned.item)}
            for operation in pinned.item.operations:
                why = reason or operation_refusal(user, pinned, operation)
                if why is not None:
                    entry = {"id": operation.id, "title": operation.title, "reason": why}
                    unavailable.append(entry)
                    continue
                summary = summaries[operation.id]
                summary.pop("access", None)
                allowed.append(
                    {
                        **summary,
                        "form": operation_form(pinned.item, operation.id, row.get("inputs")),
                        "run": f"{API}/resources/{resource_id}/operations/{operation.id}",
                    }
                )
        return OperationChoice(
            row=row,
            item=pinned.item if pinned else None,
            reason=reason,
            allowed=allowed,
            unavailable=unavailable,
        )

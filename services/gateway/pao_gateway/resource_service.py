"""What the resource endpoints do: list and show with visibility, say which operations
may run now (with their forms), and run one.

A resource another team owns is ``NotFound`` (404, as a resource that does not exist:
its existence is not told). The operations' forms and checks are the catalog's own
(``pao_catalog_model.forms``), over the item version the resource was made with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pao_catalog_model.forms import (
    operation_form,
    operation_inputs,
    operations_summary,
    validate_operation_inputs,
)
from pao_catalog_model.model import DECOMMISSION, CatalogItem, Operation

from pao_gateway.catalog_items import ItemVersions, PinnedItem, access_refusal, check_approvers
from pao_gateway.errors import (
    AccessDenied,
    FieldProblem,
    InvalidRequestState,
    InvalidSubmission,
    NotFound,
    ResourceBusy,
    ResourceGone,
)
from pao_gateway.identity import User
from pao_gateway.request_service import RequestService, SubmitOutcome
from pao_gateway.resource_claims import ResourceClaims
from pao_gateway.resource_reads import Cursor, ResourceFilter, ResourceReader, can_see_resource
from pao_gateway.schemas import API, OperationBody
from pao_gateway.submissions import Submission, operation_body_hash

UNKNOWN_FIELD = "unknown field"


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


def refuse_state(row: dict[str, Any], pinned: PinnedItem | None) -> None:
    """``state_refusal`` as the error ``POST .../operations/{op}`` answers (all 409)."""
    why = state_refusal(row, pinned)
    if why is None:
        return
    if row["status"] == "decommissioned":
        raise ResourceGone(why)
    if row.get("active_request_id"):
        raise ResourceBusy(why, running_request=row["active_request_id"])
    raise InvalidRequestState(why)


def template_resource(row: dict[str, Any]) -> dict[str, Any]:
    """What an operation's templates see as ``resource`` (as the orchestrator gives it)."""
    return {
        "id": row["resource_id"],
        "name": row["name"],
        "owner_team": row.get("owner_team"),
        "item_version": row["item_version"],
        "inputs": dict(row.get("inputs") or {}),
        "outputs": dict(row.get("outputs") or {}),
    }


class ResourceService:
    def __init__(
        self,
        *,
        reader: ResourceReader,
        versions: ItemVersions,
        requests: RequestService | None = None,
        claims: ResourceClaims | None = None,
    ) -> None:
        self._reader = reader
        self._versions = versions
        self._requests = requests
        self._claims = claims

    @property
    def claims(self) -> ResourceClaims | None:
        """The claims that keep one operation at a time per resource (None: read-only)."""
        return self._claims

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

    async def run(
        self,
        user: User,
        resource_id: str,
        operation_id: str,
        body: OperationBody,
        key: str | None,
    ) -> SubmitOutcome:
        """Submit the operation ``operation_id`` on the resource: a request like any other
        (``RequestService.accept``: idempotent, rate limited, durable, published), its
        submission row claiming the resource (``ResourceClaims``: one at a time)."""
        assert self._requests is not None and self._claims is not None, "read-only service"
        reason = body.emergency.reason if body.emergency else None
        digest = operation_body_hash(resource_id, operation_id, body.inputs, reason)

        async def build() -> Submission:
            row = await self.visible(user, resource_id)
            pinned = await self._versions.pinned(row["item_id"], row["item_version"])
            if pinned is None:
                refuse_state(row, pinned)  # decommissioned, busy, ... or not in the catalog
            assert pinned is not None
            operation = pinned.item.operation(operation_id)
            if operation is None:
                declared = ", ".join(o.id for o in pinned.item.operations) or "none"
                raise NotFound(
                    f"{row['item_id']} {row['item_version']} has no operation {operation_id!r}"
                    f" (it declares: {declared})"
                )
            if (refused := operation_refusal(user, pinned, operation)) is not None:
                raise AccessDenied(refused)
            refuse_state(row, pinned)
            current = row.get("inputs") or {}
            problems = validate_operation_inputs(pinned.item, operation_id, body.inputs, current)
            if problems:
                unknown = [p.field for p in problems if p.message == UNKNOWN_FIELD]
                detail = (
                    f"{operation_id} does not ask for {', '.join(unknown)}"
                    if unknown
                    else f"{len(problems)} invalid input(s) for {operation_id} on {label(row)}"
                )
                raise InvalidSubmission(
                    detail, [FieldProblem(p.field, p.message) for p in problems]
                )
            inputs = operation_inputs(pinned.item, operation_id, body.inputs, current)
            resource = template_resource(row)
            check_approvers(user, pinned, inputs, approval=operation.approval, resource=resource)
            assert self._requests is not None
            self._requests.check_calendar(
                user,
                pinned,
                inputs,
                reason,
                change_class=operation.change_class,
                resource=resource,
            )
            return Submission.new(
                requester=user.as_requester(),
                idempotency_key=key,
                body_hash=digest,
                item_id=pinned.item_id,
                item_version=pinned.version,
                inputs=inputs,
                emergency_reason=reason,
                resource_id=resource_id,
                operation=operation_id,
            )

        return await self._requests.accept(user, key, digest, build, self._claims)

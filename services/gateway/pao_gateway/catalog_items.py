"""The catalog versions a submission is checked against, read from ``catalog_item_versions``.

The catalog service is the table's only writer; the gateway reads the pinned (or
latest: ``pao_catalog_model.versions.latest_version`` of the non-retired ones) version,
parses it with the catalog library and validates inputs with the catalog's own validator
(``pao_catalog_model.forms.validate_inputs``), so the form a portal renders and the
check a submission passes are one and the same.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from pao_catalog_model.forms import apply_defaults, validate_inputs
from pao_catalog_model.model import Access, Approval, CatalogItem, parse_item
from pao_catalog_model.versions import latest_version, version_key
from pao_common import approvals, templating
from pao_common.errors import TemplateError

from pao_gateway.errors import AccessDenied, FieldProblem, InvalidSubmission
from pao_gateway.identity import User


@dataclass(frozen=True)
class PinnedItem:
    """One immutable catalog version, parsed."""

    item_id: str
    version: str
    content_hash: str
    item: CatalogItem


class ItemVersions(Protocol):
    """Reads catalog versions (the catalog's history table)."""

    async def resolve(self, item_id: str, version: str | None) -> PinnedItem:
        """The pinned ``version`` of ``item_id``, or its latest when ``version`` is None.

        Raises ``InvalidSubmission`` naming ``item_id`` / ``item_version`` when the
        item or version does not exist or is retired.
        """
        ...

    async def pinned(self, item_id: str, version: str) -> PinnedItem | None:
        """``version`` of ``item_id`` even when retired (a resource keeps the version it
        was made with, as a request in flight does); None when the catalog lacks it."""
        ...


class PostgresItemVersions:
    """``ItemVersions`` over ``catalog_item_versions``; parsed items are memoised
    (a version is immutable, its content hash part of the memo key).

    An item's list of versions is kept for ``versions_ttl_s`` and forgotten at once when
    ``pao.catalog.events`` says the item changed (``forget``), so a busy item costs no
    query per submission and a new or retired version counts within moments.
    """

    def __init__(
        self, pool: asyncpg.Pool, *, memo_size: int = 256, versions_ttl_s: float = 2.0
    ) -> None:
        self._pool = pool
        self._memo: OrderedDict[tuple[str, str, str], PinnedItem] = OrderedDict()
        self._memo_size = memo_size
        self._versions_ttl_s = versions_ttl_s
        self._versions: dict[str, tuple[float, list[asyncpg.Record]]] = {}

    def forget(self, item_id: str) -> None:
        self._versions.pop(item_id, None)

    async def _rows(self, item_id: str) -> list[asyncpg.Record]:
        now = time.monotonic()
        cached = self._versions.get(item_id)
        if cached is not None and now - cached[0] < self._versions_ttl_s:
            return cached[1]
        rows: list[asyncpg.Record] = await self._pool.fetch(
            "SELECT version, content_hash, retired_at IS NOT NULL AS retired"
            " FROM catalog_item_versions WHERE item_id = $1",
            item_id,
        )
        if rows:  # an unknown item is asked again next time (it may be on its way)
            if len(self._versions) >= self._memo_size:
                self._versions.clear()
            self._versions[item_id] = (now, rows)
        return rows

    async def resolve(self, item_id: str, version: str | None) -> PinnedItem:
        rows = await self._rows(item_id)
        if not rows:
            raise InvalidSubmission(
                f"unknown catalog item {item_id!r}",
                [FieldProblem("item_id", f"no catalog item {item_id!r}", "body")],
            )
        if version is None:
            live = [r for r in rows if not r["retired"]]
            if not live:
                raise InvalidSubmission(
                    f"catalog item {item_id!r} is retired",
                    [FieldProblem("item_id", f"every version of {item_id!r} is retired", "body")],
                )
            latest = latest_version(r["version"] for r in live)
            row = next(r for r in live if r["version"] == latest)
        else:
            found = [r for r in rows if r["version"] == version]
            if not found:
                known = ", ".join(sorted((r["version"] for r in rows), key=version_key))
                raise InvalidSubmission(
                    f"unknown version {version!r} of {item_id!r}",
                    [
                        FieldProblem(
                            "item_version", f"no version {version!r} (known: {known})", "body"
                        )
                    ],
                )
            row = found[0]
            if row["retired"]:
                raise InvalidSubmission(
                    f"version {version} of {item_id!r} is retired",
                    [FieldProblem("item_version", f"version {version!r} is retired", "body")],
                )
        return await self._load(item_id, row["version"], row["content_hash"])

    async def pinned(self, item_id: str, version: str) -> PinnedItem | None:
        found = [r for r in await self._rows(item_id) if r["version"] == version]
        if not found:
            return None
        return await self._load(item_id, version, found[0]["content_hash"])

    async def _load(self, item_id: str, version: str, content_hash: str) -> PinnedItem:
        memo_key = (item_id, version, content_hash)
        if (pinned := self._memo.get(memo_key)) is not None:
            self._memo.move_to_end(memo_key)
            return pinned
        raw = await self._pool.fetchval(
            "SELECT document FROM catalog_item_versions WHERE item_id = $1 AND version = $2",
            item_id,
            version,
        )
        document: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else raw
        pinned = PinnedItem(item_id, version, content_hash, parse_item(document))
        self._memo[memo_key] = pinned
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)
        return pinned


def access_refusal(user: User, item_id: str, access: Access) -> str | None:
    """Why ``user`` may not request the item (who may), or None when they may."""
    if user.is_admin or access.allows(user.teams, user.roles):
        return None
    who = []
    if access.teams:
        who.append(f"teams {', '.join(access.teams)}")
    if access.roles:
        who.append(f"roles {', '.join(access.roles)}")
    return f"{item_id} may only be requested by {' or '.join(who)}"


def check_access(user: User, pinned: PinnedItem) -> None:
    """The item's ``access`` rules (platform admins pass); ``AccessDenied`` says who may."""
    refusal = access_refusal(user, pinned.item_id, pinned.item.access)
    if refusal is not None:
        raise AccessDenied(refusal)


def mark_requestable(user: User, summary: dict[str, Any]) -> dict[str, Any]:
    """A catalog item as listed, with whether ``user`` may request it.

    ``can_request`` is decided by the rules ``check_access`` applies at submission (which
    still refuses with 403); when it is false, ``access_reason`` says who may. A summary
    without ``access`` (not from this catalog service) is left as it is.
    """
    rules = summary.get("access")
    if not isinstance(rules, dict):
        return summary
    access = Access.model_validate(rules)
    refusal = access_refusal(user, str(summary.get("id")), access)
    return {**summary, "can_request": refusal is None, "access_reason": refusal}


def checked_inputs(pinned: PinnedItem, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` with the form's defaults applied, or ``InvalidSubmission`` per field."""
    problems = validate_inputs(pinned.item, inputs)
    if problems:
        raise InvalidSubmission(
            f"{len(problems)} invalid input(s) for {pinned.item_id} {pinned.version}",
            [FieldProblem(p.field, p.message) for p in problems],
        )
    completed: dict[str, Any] = apply_defaults(pinned.item, inputs)
    return completed


def check_approvers(
    user: User,
    pinned: PinnedItem,
    inputs: dict[str, Any],
    *,
    approval: Approval | None = None,
    resource: dict[str, Any] | None = None,
) -> None:
    """``InvalidSubmission`` when a stage of the item's approval can never be completed for
    this requester (``pao_common.approvals.first_unresolvable``: e.g. it names the
    requester's manager and the token carries none), rather than a request that waits for
    the stage's expiry. The orchestrator refuses the same submissions (Kafka ones too); an
    ``approval.when`` the gateway cannot decide alone (it reads ``system``, or fails) is
    left to it. An operation passes its own ``approval`` and the ``resource`` it acts on
    (its ``owner_team`` is the resource owner's team)."""
    approval = approval if approval is not None else pinned.item.approval
    if not approval.required:
        return
    requester = user.as_requester()
    if approval.when:
        if "system" in approval.when:
            return
        context = templating.build_context(inputs=inputs, user=requester, item=pinned.item)
        if resource is not None:
            context["resource"] = resource
        try:
            if not templating.evaluate(approval.when, context):
                return
        except TemplateError:
            return
    specs = approvals.stage_rules(approval)
    owner = (resource or {}).get("owner_team") or approvals.provisioning_owner_team(
        pinned.item.resource.owner_input, inputs, requester
    )
    problem = approvals.first_unresolvable(specs, requester=requester, owner_team=owner)
    if problem is not None:
        raise InvalidSubmission(
            f"{pinned.item_id} {pinned.version} cannot be approved for {user.id}: {problem}",
            [FieldProblem("approval", problem, location="item")],
        )

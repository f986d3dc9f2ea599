"""The catalog versions a submission is checked against, from the catalog service's API.

The gateway reads no table of the catalog's (issue #15): ``pao_common.catalog_api`` asks
the catalog which versions an item has (kept for a couple of seconds, forgotten when
``pao.catalog.events`` says the item changed) and a version's document (kept for good: a
version never changes). The gateway parses it with the catalog library and validates
inputs with the catalog's own validator (``pao_catalog_model.forms.validate_inputs``), so the
form a portal renders and the check a submission passes are one and the same. The
catalog down: versions seen before go on being served; any other is a 502 to retry
(``CatalogUnavailable``), never a "no such item".
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from pao_catalog_model.forms import apply_defaults, validate_inputs
from pao_catalog_model.model import Access, Approval, CatalogItem, parse_item
from pao_catalog_model.versions import version_key
from pao_common import approvals, templating
from pao_common import errors as common_errors
from pao_common.catalog_api import CatalogApi, ListedVersions, VersionInfo
from pao_common.errors import TemplateError

from pao_gateway.errors import AccessDenied, CatalogUnavailable, FieldProblem, InvalidSubmission
from pao_gateway.identity import User


@dataclass(frozen=True)
class PinnedItem:
    """One immutable catalog version, parsed."""

    item_id: str
    version: str
    content_hash: str
    item: CatalogItem


class ItemVersions(Protocol):
    """Reads catalog versions (the catalog service's API)."""

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


class CatalogItemVersions:
    """``ItemVersions`` over the catalog's API; parsed items are memoised (a version is
    immutable, its content hash part of the memo key)."""

    def __init__(self, api: CatalogApi, *, memo_size: int = 256) -> None:
        self.api = api
        self._memo: OrderedDict[tuple[str, str, str], PinnedItem] = OrderedDict()
        self._memo_size = memo_size

    def forget(self, item_id: str) -> None:
        self.api.forget(item_id)

    async def _listed(self, item_id: str) -> ListedVersions | None:
        try:
            return await self.api.versions(item_id)
        except common_errors.CatalogUnavailable as exc:
            raise CatalogUnavailable(f"{exc}; try again") from exc

    async def resolve(self, item_id: str, version: str | None) -> PinnedItem:
        listed = await self._listed(item_id)
        if listed is None or not listed.versions:
            raise InvalidSubmission(
                f"unknown catalog item {item_id!r}",
                [FieldProblem("item_id", f"no catalog item {item_id!r}", "body")],
            )
        if version is None:
            latest = listed.find(listed.latest) if listed.latest else None
            if latest is None:
                raise InvalidSubmission(
                    f"catalog item {item_id!r} is retired",
                    [FieldProblem("item_id", f"every version of {item_id!r} is retired", "body")],
                )
            row = latest  # the catalog's latest: the highest live version
        else:
            found = listed.find(version) or await self._unlisted(item_id, version)
            if found is None:
                known = ", ".join(sorted((v.version for v in listed.versions), key=version_key))
                raise InvalidSubmission(
                    f"unknown version {version!r} of {item_id!r}",
                    [
                        FieldProblem(
                            "item_version", f"no version {version!r} (known: {known})", "body"
                        )
                    ],
                )
            row = found
            if row.retired:
                raise InvalidSubmission(
                    f"version {version} of {item_id!r} is retired",
                    [FieldProblem("item_version", f"version {version!r} is retired", "body")],
                )
        return await self._load(item_id, row)

    async def _unlisted(self, item_id: str, version: str) -> VersionInfo | None:
        """A version the list lacks, asked for by itself: the list may be a moment behind
        (another catalog replica recorded it), and a version the orchestrator will be
        able to read must not be refused here."""
        try:
            return await self.api.version(item_id, version)
        except common_errors.CatalogUnavailable as exc:
            raise CatalogUnavailable(f"{exc}; try again") from exc

    async def pinned(self, item_id: str, version: str) -> PinnedItem | None:
        listed = await self._listed(item_id)
        found = listed.find(version) if listed is not None else None
        found = found or await self._unlisted(item_id, version)
        if found is None:
            return None
        return await self._load(item_id, found)

    async def _load(self, item_id: str, info: VersionInfo) -> PinnedItem:
        memo_key = (item_id, info.version, info.content_hash)
        if (pinned := self._memo.get(memo_key)) is not None:
            self._memo.move_to_end(memo_key)
            return pinned
        try:
            document: dict[str, Any] | None = await self.api.document(item_id, info.version)
        except common_errors.CatalogUnavailable as exc:
            raise CatalogUnavailable(f"{exc}; try again") from exc
        if document is None:  # listed a moment ago: a catalog replica that lags behind
            raise CatalogUnavailable(
                f"the catalog lists {item_id} {info.version} but has not its document yet;"
                " try again"
            )
        pinned = PinnedItem(item_id, info.version, info.content_hash, parse_item(document))
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

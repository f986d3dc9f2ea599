"""What the request endpoints do: submit (idempotent), read with visibility, decide.

Routes parse and delegate here; this module publishes commands and reads the
stores, and raises ``pao_gateway.errors`` that the app maps to HTTP statuses.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pao_catalog_model.model import ChangeClass
from pao_common import approvals, change_calendar, templating
from pao_common.errors import TemplateError
from pao_common.messages import ApproveRequest, CancelRequest, RejectRequest

from pao_gateway.catalog_items import (
    ItemVersions,
    PinnedItem,
    check_access,
    check_approvers,
    checked_inputs,
)
from pao_gateway.errors import (
    AccessDenied,
    ChangeWindowClosed,
    IdempotencyConflict,
    InvalidRequestState,
    NotFound,
)
from pao_gateway.identity import User
from pao_gateway.live import TERMINAL_STATUSES
from pao_gateway.rate_limit import SubmissionRateLimiter
from pao_gateway.request_reads import RequestFilter, RequestReader
from pao_gateway.resource_claims import ResourceClaims
from pao_gateway.schemas import SubmitBody
from pao_gateway.submissions import (
    CommandSender,
    Submission,
    SubmissionStore,
    body_hash,
    publish,
)
from pao_gateway.visibility import can_cancel, can_see, is_approver


@dataclass(frozen=True)
class SubmitOutcome:
    request_id: str
    replayed: bool


def _same_body(request_id: str, expected: str, actual: str, key: str) -> None:
    if expected != actual:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was already used for request {request_id}"
            " with a different body"
        )


class RequestService:
    def __init__(
        self,
        *,
        versions: ItemVersions,
        submissions: SubmissionStore,
        reader: RequestReader,
        sender: CommandSender,
        limiter: SubmissionRateLimiter | None = None,
        publish_timeout_s: float = 5.0,
        calendar: change_calendar.ChangeCalendar | None = None,
        system: dict[str, Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._calendar = calendar
        self._system = dict(system or {})
        self._clock = clock
        self._versions = versions
        self._submissions = submissions
        self._reader = reader
        self._sender = sender
        self._limiter = limiter
        self._publish_timeout_s = publish_timeout_s

    async def submit(self, user: User, body: SubmitBody, key: str | None) -> SubmitOutcome:
        reason = body.emergency.reason if body.emergency else None
        digest = body_hash(body.item_id, body.item_version, body.inputs, reason)

        async def build() -> Submission:
            pinned = await self._versions.resolve(body.item_id, body.item_version)
            check_access(user, pinned)
            inputs = checked_inputs(pinned, body.inputs)
            check_approvers(user, pinned, inputs)
            self.check_calendar(user, pinned, inputs, reason)
            return Submission.new(
                requester=user.as_requester(),
                idempotency_key=key,
                body_hash=digest,
                item_id=pinned.item_id,
                item_version=pinned.version,
                inputs=inputs,
                emergency_reason=reason,
            )

        return await self.accept(user, key, digest, build)

    async def accept(
        self,
        user: User,
        key: str | None,
        digest: str,
        build: Callable[[], Awaitable[Submission]],
        claims: ResourceClaims | None = None,
    ) -> SubmitOutcome:
        """The submission flow of every endpoint that makes a request: an Idempotency-Key
        seen before answers its request (same body) or 409 (another body) before anything
        else; then the rate limit, ``build`` (the endpoint's checks, raising its errors),
        the durable row (with the resource's claim for an operation) and the publish."""
        if key is not None:
            if (hint := await self._submissions.hint(user.id, key)) is not None:
                _same_body(hint.request_id, hint.body_hash, digest, key)
                return SubmitOutcome(hint.request_id, replayed=True)
            if (earlier := await self._submissions.by_key(user.id, key)) is not None:
                return await self._replay(earlier, digest, key)
        if self._limiter is not None:  # a replay above is free: it creates nothing
            await self._limiter.check(user)
        fresh = await build()
        stored = await self._submissions.record(fresh, claims)
        if stored.request_id != fresh.request_id:  # a concurrent twin won the key
            assert key is not None
            return await self._replay(stored, digest, key)
        await publish(stored, self._sender, self._submissions, timeout_s=self._publish_timeout_s)
        return SubmitOutcome(stored.request_id, replayed=False)

    def check_calendar(
        self,
        user: User,
        pinned: PinnedItem,
        inputs: dict[str, Any],
        reason: str | None,
        *,
        change_class: ChangeClass | None = None,
        resource: dict[str, Any] | None = None,
    ) -> None:
        """Refuse now what the orchestrator would deny (``pao_common.change_calendar``, the
        same rule it decides with): 422 naming the window and its end; an override asked
        by someone without the calendar's emergency role: 403. An operation passes its own
        ``change_class`` and the ``resource`` its templates see."""
        calendar = self._calendar
        if reason is not None and not (calendar and calendar.may_override(user.roles)):
            role = calendar.emergency.role if calendar and calendar.emergency else None
            raise AccessDenied(
                f"an emergency override needs the role {role}"
                if role
                else "the change calendar names no emergency role: nobody may override it"
            )
        if calendar is None or reason is not None:
            return
        item = pinned.item
        context = templating.build_context(
            inputs=inputs,
            user=user.as_requester(),
            item=item,
            request={"item_version": pinned.version},
            system={**self._system, "now": self._clock().isoformat()},
        )
        if resource is not None:
            context["resource"] = resource
        try:
            found_class = (change_class or item.change_class).of(context)
        except TemplateError:
            return  # the orchestrator records why the class cannot be decided
        found = change_calendar.verdict(
            calendar,
            self._clock(),
            found_class,
            item_id=pinned.item_id,
            owner=item.metadata.owner,
        )
        if found is not None and found.action == "deny":
            raise ChangeWindowClosed(
                found.explain(found_class),
                window=found.window,
                until=found.end.isoformat(),
                change_class=found_class,
            )

    async def _replay(self, earlier: Submission, digest: str, key: str) -> SubmitOutcome:
        # An earlier attempt that has not published yet is either still publishing or
        # died: the relay (one claimant per row) publishes it, never a second writer here.
        _same_body(earlier.request_id, earlier.body_hash, digest, key)
        return SubmitOutcome(earlier.request_id, replayed=True)

    async def visible(self, user: User, request_id: str) -> dict[str, Any]:
        """The request's row; ``NotFound`` also when the caller may not see it."""
        row = await self._reader.get(request_id)
        if row is None or not can_see(user, row):
            raise NotFound(f"no request {request_id}")
        return row

    async def page(
        self, user: User, filters: RequestFilter, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        return await self._reader.page(user, filters, limit=limit, offset=offset)

    async def awaiting(self, user: User) -> list[dict[str, Any]]:
        """What awaits ``user``'s approval (the approver inbox)."""
        return await self._reader.awaiting(user)

    async def notifications(self, user: User, request_id: str) -> list[dict[str, Any]]:
        await self.visible(user, request_id)
        return await self._reader.notifications(request_id)

    async def detail(
        self, user: User, request_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The request's row and what the notifier sent about it (``GET /requests/{id}``)."""
        row = await self.visible(user, request_id)
        return row, await self._reader.notifications(request_id)

    async def events(self, user: User, request_id: str) -> list[dict[str, Any]]:
        await self.visible(user, request_id)
        return await self._reader.events(request_id)

    async def cancel(self, user: User, request_id: str, reason: str | None) -> dict[str, Any]:
        row = await self.visible(user, request_id)
        if not can_cancel(user, row):
            raise AccessDenied("only the requester, their team or a platform admin may cancel")
        if row["status"] in TERMINAL_STATUSES:
            raise InvalidRequestState(f"request {request_id} is already {row['status']}")
        command = CancelRequest(request_id=request_id, by=user.as_requester(), reason=reason)
        await self._sender.send(command, request_id=request_id, message_id=str(uuid.uuid4()))
        return row

    async def decide(
        self, user: User, request_id: str, *, approve: bool, comment: str | None
    ) -> dict[str, Any]:
        row = await self.visible(user, request_id)
        if row["status"] != "awaiting_approval":
            if not is_approver(user, row.get("approval")):
                raise AccessDenied(f"{user.id} is not an approver of request {request_id}")
            raise InvalidRequestState(
                f"request {request_id} is {row['status']}, not awaiting_approval"
            )
        refused = approvals.refusal(
            approvals.stage_from_view(row.get("approval")),
            user.as_requester(),
            "approve" if approve else "reject",
            row.get("requester_id"),
        )
        if refused is not None:
            error = InvalidRequestState if refused.http_status == 409 else AccessDenied
            raise error(f"request {request_id}: {refused.message}")
        by = user.as_requester()
        command = (
            ApproveRequest(request_id=request_id, by=by, comment=comment)
            if approve
            else RejectRequest(request_id=request_id, by=by, comment=comment)
        )
        await self._sender.send(command, request_id=request_id, message_id=str(uuid.uuid4()))
        return row

"""The service layer: load the stream, decide, commit. Nothing clever.

``RequestHandler.handle`` is what every subscriber and the timer poller call. One
message = one ``Commit`` (events, processed message id, outbox rows, timers and the
projection row in one transaction); a concurrent writer means reload and decide
again; a message seen before is skipped.

The states of recently handled streams are kept in memory (one request's messages
come to one process, its partition's consumer), and a submission's stream is taken to
be new, so a message usually costs one round trip to the store: the commit. A cached
or assumed state is only ever a guess: if the stream is further along, the commit's
version check refuses it (and a decision to append nothing is taken again on the
stored stream). The same goes for the resource a provisioning request opens (its id
comes from the request's): taken to be new at the submission, kept from the commit
that opened it until the one that settles it, and checked by the resource stream's
own version on commit; a state loaded from the store means its resource is loaded too.

A command whose credential was refused (``pao_orchestrator.authentication``) never reaches
``handle``: ``refuse`` commits only the public event that tells its sender why.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Literal

from pao_common.messages import CommandRefused, RequestEvent, SubmitRequest, resource_id_for
from pao_common.telemetry import current_traceparent
from pao_common.topics import Topics
from prometheus_client import Counter

from pao_orchestrator.domain import resources
from pao_orchestrator.domain.decide import INFORMATIONAL, decide
from pao_orchestrator.domain.decision import DecisionContext, Inbound, TimerFired
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.evolve import evolve, reduce
from pao_orchestrator.domain.resource_state import (
    ResourceState,
    evolve_resource,
    reduce_resource,
)
from pao_orchestrator.domain.state import RequestState
from pao_orchestrator.errors import ConcurrencyError, DuplicateMessage, ItemNotFound, Refusal
from pao_orchestrator.ports import (
    Clock,
    Commit,
    EventStore,
    ItemCatalog,
    OutboxMessage,
    ResourceAppend,
    Timer,
)
from pao_orchestrator.projection import resource_view_row, view_row

log = logging.getLogger(__name__)

MESSAGES = Counter(
    "pao_orchestrator_messages_total", "Messages handled by the orchestrator", ["type", "outcome"]
)

Outcome = Literal["committed", "no-op", "duplicate"]
MAX_CONFLICTS = 20
CACHED_STREAMS = 10_000


@dataclass
class RequestHandler:
    store: EventStore
    catalog: ItemCatalog
    clock: Clock
    topics: Topics
    system: Mapping[str, Any]
    # Told after each commit (wakes the outbox relay and the timer poller in-process).
    after_commit: Callable[[Commit], None] | None = None
    # Told the state before, the events appended and the state after each commit (metrics).
    observe: Callable[[RequestState, list[DomainEvent], RequestState], None] | None = None
    cache_size: int = CACHED_STREAMS
    # The change calendar (``pao_common.change_calendar.ChangeCalendar``); None: no freezes.
    calendar: Any = None
    _states: OrderedDict[str, RequestState] = field(default_factory=OrderedDict, repr=False)
    # The resources that provisioning requests opened and have not settled yet.
    _resources: OrderedDict[str, ResourceState] = field(default_factory=OrderedDict, repr=False)

    async def handle(self, message: Inbound, message_id: str) -> Outcome:
        outcome = await self._handle(message, message_id)
        MESSAGES.labels(type(message).__name__, outcome).inc()
        return outcome

    async def _handle(self, message: Inbound, message_id: str) -> Outcome:
        if isinstance(message, INFORMATIONAL):
            return "no-op"  # decide records nothing for them: skip the stream load
        stream_id = message.request_id
        trust_cache = True
        for _ in range(MAX_CONFLICTS):
            state = self._states.pop(stream_id, None) if trust_cache else None
            if state is None and trust_cache and isinstance(message, SubmitRequest):
                state = RequestState()  # a submission opens its stream: guess it is new
            cached = state is not None
            # Guessed resource states only with a guessed request state: the request
            # stream's version check then vouches for both.
            trusted = cached
            if state is None:
                events = await self.store.load_unless_processed(stream_id, message_id)
                if events is None:
                    return "duplicate"
                state = reduce(events)
            # An operation request decides on its resource's state (loaded every time: the
            # resource stream's version check is what keeps two operations apart).
            target_id = resources.target_of(state, message)
            resource = await self._resource(target_id) if target_id is not None else None
            ctx = await self._context(state, message, resource)
            decision = decide(state, message, ctx)
            if cached and not decision.events:
                # Only appended events meet the version check: a decision to append
                # nothing (ignore the message, just cancel a timer) could come from a stale
                # state, e.g. one from before this partition last moved to another
                # replica. Decide it again on the stored stream.
                trust_cache = False
                continue
            cancel = list(decision.cancel_timers)
            if isinstance(message, TimerFired):
                cancel.append(message.timer_id)  # a fired timer is done, whatever it decided
            elif decision.empty:
                self._remember(stream_id, state)
                return "no-op"
            # The state after each new event (public events carry their version and status).
            states = list(accumulate(decision.events, evolve, initial=state))[1:]
            after = states[-1] if states else state
            appended, resource_outbox, resource_after = await self._resource_changes(
                state, decision.events, after, resource, ctx, trusted=trusted
            )
            commit = Commit(
                stream_id=stream_id,
                expected_version=state.version,
                events=decision.events,
                message_id=message_id,
                outbox=self._outbox(state, decision.events, states, decision.commands)
                + resource_outbox,
                timers=[
                    Timer(
                        timer_id=t.timer_id,
                        stream_id=stream_id,
                        kind=t.fired.kind,
                        due_at=t.due_at,
                        payload=t.fired.model_dump(mode="json"),
                    )
                    for t in decision.timers
                ],
                cancel_timers=cancel,
                view=view_row(after) if decision.events else None,
                resource=appended,
            )
            try:
                await self.store.commit(commit)
            except ConcurrencyError:
                log.info("stream %s changed under us; deciding again", stream_id)
                trust_cache = False
                continue
            except DuplicateMessage:
                return "duplicate"
            self._remember(stream_id, after)
            if appended is not None and resource_after is not None and after.operation is None:
                self._remember_resource(appended.stream_id, resource_after, after)
            if self.observe is not None and decision.events:
                self.observe(state, decision.events, after)
            if self.after_commit is not None:
                self.after_commit(commit)
            return "committed"
        raise ConcurrencyError(f"stream {stream_id}: gave up after {MAX_CONFLICTS} conflicts")

    async def refuse(
        self,
        *,
        request_id: str,
        command_id: str,
        command_type: str,
        reason: Refusal,
        detail: str,
    ) -> Outcome:
        """Tell the sender, on the request's public topic, that its command was refused.

        The refusal is committed like any decision (recorded message id plus outbox row,
        one transaction), so it is published once however often the command comes; it
        appends nothing to the request's stream (a refused submission creates no request).
        Its ledger id is the command's id with ``:refused``, so a forged command cannot
        use up the id of a genuine one published later.
        """
        refusal = CommandRefused(
            request_id=request_id,
            command_id=command_id,
            command_type=command_type,
            reason=reason,
            detail=detail,
            occurred_at=self.clock.now(),
        )
        refusal_id = f"{command_id}:refused"
        commit = Commit(
            stream_id=request_id,
            expected_version=0,  # no events: no version to check
            message_id=refusal_id,
            outbox=[
                OutboxMessage(
                    message_id=refusal_id,
                    topic=self.topics.request_events,
                    key=request_id,
                    ce_type=refusal.ce_type,
                    body=refusal.model_dump(mode="json"),
                    traceparent=current_traceparent(),
                )
            ],
        )
        try:
            await self.store.commit(commit)
        except DuplicateMessage:
            return "duplicate"
        if self.after_commit is not None:
            self.after_commit(commit)
        return "committed"

    def _remember(self, stream_id: str, state: RequestState) -> None:
        self._states[stream_id] = state
        if len(self._states) > self.cache_size:
            self._states.popitem(last=False)

    def _remember_resource(
        self, resource_id: str, resource: ResourceState, request: RequestState
    ) -> None:
        """Keep the resource a provisioning request opened, for the commit that settles
        it (nothing of the request needs it after that)."""
        if request.is_terminal:
            return
        self._resources[resource_id] = resource
        if len(self._resources) > self.cache_size:
            self._resources.popitem(last=False)

    async def _resource(self, resource_id: str) -> ResourceState:
        return reduce_resource(await self.store.load_resource(resource_id))

    async def _provisioned(
        self, resource_id: str, before: RequestState, *, trusted: bool
    ) -> ResourceState:
        """The resource of a provisioning request: kept, new, or loaded from the store."""
        if trusted:
            kept = self._resources.pop(resource_id, None)
            if kept is not None:
                return kept
            if before.version == 0:  # a submission's new stream: its resource is new too
                return reduce_resource([])
        self._resources.pop(resource_id, None)
        return await self._resource(resource_id)

    async def _context(
        self, state: RequestState, message: Inbound, resource: ResourceState | None = None
    ) -> DecisionContext:
        ctx = await self._item_context(state, message, resource)
        if resource is None:
            return ctx
        # An operation request: decide sees the item as the operation makes it.
        submitting = isinstance(message, SubmitRequest) and state.status == "new"
        operation_id = message.operation if isinstance(message, SubmitRequest) else None
        op_id = operation_id if submitting else state.operation
        operation = ctx.item.operation(op_id) if ctx.item is not None and op_id else None
        target = resources.ResourceTarget(state=resource, item=ctx.item, operation=operation)
        item = ctx.item
        if ctx.item is not None and operation is not None:
            item = resources.operation_item(ctx.item, operation)
        problem = ctx.item_problem
        if ctx.item is not None and operation is None:
            problem = f"item {ctx.item.metadata.id} has no operation {op_id!r}"
            item = None
        return DecisionContext(
            now=ctx.now,
            item=item,
            item_problem=problem,
            system=self.system,
            resource=target,
            calendar=self.calendar,
        )

    async def _item_context(
        self, state: RequestState, message: Inbound, resource: ResourceState | None
    ) -> DecisionContext:
        now = self.clock.now()
        base = {"now": now, "system": self.system, "calendar": self.calendar}
        item_id = state.item_id
        version = state.item_version
        if isinstance(message, SubmitRequest) and state.status == "new":
            item_id, version = message.item_id, message.item_version
            if resource is not None and resource.exists:  # the resource's item and version
                item_id, version = resource.item_id, resource.item_version
        if item_id is None:
            return DecisionContext(**base)
        if state.status != "new" and version is None:
            return DecisionContext(**base, item_problem="no item version")
        try:
            item = await self.catalog.get(item_id, version)
        except ItemNotFound as exc:
            return DecisionContext(**base, item_problem=str(exc))
        return DecisionContext(**base, item=item)

    async def _resource_changes(
        self,
        before: RequestState,
        events: list[Any],
        after: RequestState,
        resource: ResourceState | None,
        ctx: DecisionContext,
        *,
        trusted: bool = False,
    ) -> tuple[ResourceAppend | None, list[OutboxMessage], ResourceState | None]:
        """The resource events the request's new events cause, as a commit's part, and
        the resource's state after them. ``trusted``: the request's state is a guess
        its commit checks, so a provisioning request's resource may be one too."""
        if not events:
            return None, [], None
        if after.operation is None:
            if not resources.provisioning_touched(before, events, after):
                return None, [], None
            resource_id = resource_id_for(after.request_id)
            resource = await self._provisioned(resource_id, before, trusted=trusted)
            item = ctx.item
        else:
            if resource is None or after.resource_id is None:
                return None, [], None
            resource_id = after.resource_id
            item = ctx.resource.item if ctx.resource is not None else None
        new = resources.follow(before, events, after, resource, item=item, system=self.system)
        if not new:
            return None, [], None
        states = list(accumulate(new, evolve_resource, initial=resource))[1:]
        traceparent = current_traceparent()
        outbox = []
        for event, current in zip(new, states, strict=True):
            public = resources.public_event(event, current)
            outbox.append(
                OutboxMessage(
                    message_id=f"resource:{resource_id}:{current.version}",
                    topic=self.topics.resource_events,
                    key=resource_id,
                    ce_type=public.ce_type,
                    body=public.model_dump(mode="json"),
                    traceparent=traceparent,
                )
            )
        appended = ResourceAppend(
            stream_id=resource_id,
            expected_version=resource.version,
            events=new,
            view=resource_view_row(states[-1]),
        )
        return appended, outbox, states[-1]

    def _outbox(
        self,
        state: RequestState,
        events: list[Any],
        states: list[RequestState],
        commands: list[Any],
    ) -> list[OutboxMessage]:
        out: list[OutboxMessage] = []
        rid = state.request_id or (events[0].request_id if events else "")
        traceparent = current_traceparent()  # the handled message's (``subscribe``)
        for command in commands:
            out.append(
                OutboxMessage(
                    message_id=command.command_id,
                    topic=self.topics.actions(command.action_type),
                    key=command.request_id,
                    ce_type=command.ce_type,
                    body=command.model_dump(mode="json"),
                    traceparent=traceparent,
                )
            )
        for event, current in zip(events, states, strict=True):
            public = RequestEvent(
                request_id=current.request_id or rid,
                event_type=event.event_type,
                version=current.version,
                status=current.status,
                occurred_at=event.occurred_at,
                data=event.model_dump(mode="json", exclude={"occurred_at"}),
            )
            out.append(
                OutboxMessage(
                    message_id=f"{public.request_id}:{public.version}",
                    topic=self.topics.request_events,
                    key=public.request_id,
                    ce_type=public.ce_type,
                    body=public.model_dump(mode="json"),
                    traceparent=traceparent,
                )
            )
        return out

"""What goes into ``decide`` besides the state, and what comes out of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pao_catalog_model.model import CatalogItem
from pao_common.change_calendar import ChangeCalendar
from pao_common.messages import (
    ActionFailed,
    ActionProgress,
    ActionStarted,
    ActionSucceeded,
    ApproveRequest,
    CancelRequest,
    ChangeRequestDecided,
    CompensateAction,
    ExecuteAction,
    RejectRequest,
    SubmitRequest,
    TicketResolved,
)
from pydantic import BaseModel, ConfigDict

from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.state import RequestState

if TYPE_CHECKING:  # resources imports this module
    from pao_orchestrator.domain.resources import ResourceTarget

TimerKind = Literal[
    "retry",
    "step_timeout",
    "approval_expiry",
    "change_window",
    "change_request_retry",
    "change_request_timeout",
]


class TimerFired(BaseModel):
    """A durable timer came due; handled like any other message (id ``timer:<timer_id>``)."""

    model_config = ConfigDict(frozen=True)
    timer_id: str
    request_id: str
    kind: TimerKind
    step_id: str | None = None
    phase: Literal["execute", "compensate"] = "execute"
    attempt: int = 0
    command_id: str | None = None


Inbound = (
    SubmitRequest
    | CancelRequest
    | ApproveRequest
    | RejectRequest
    | TicketResolved
    | ChangeRequestDecided
    | ActionStarted
    | ActionProgress
    | ActionSucceeded
    | ActionFailed
    | TimerFired
)
Command = ExecuteAction | CompensateAction


@dataclass(frozen=True)
class TimerRequest:
    """Fire ``fired`` at ``due_at`` (durably; any replica may fire it)."""

    due_at: datetime
    fired: TimerFired

    @property
    def timer_id(self) -> str:
        return self.fired.timer_id


@dataclass(frozen=True)
class DecisionContext:
    """Everything ``decide`` may know about the world, passed in as data.

    ``item`` is the pinned catalog item, or None with ``item_problem`` saying why it could
    not be had; for an operation request it is the item as the operation sees it
    (``resources.operation_item``). ``system`` holds the
    template context's ``environment`` and ``portal_url``; ``now`` is the deciding
    message's time.
    """

    now: datetime
    item: CatalogItem | None = None
    item_problem: str | None = None
    system: Mapping[str, Any] = field(default_factory=dict)
    # An operation request's resource; None otherwise.
    resource: ResourceTarget | None = None
    # The change calendar; None: no freezes.
    calendar: ChangeCalendar | None = None


@dataclass
class Decision:
    events: list[DomainEvent] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    cancel_timers: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.events or self.commands or self.timers or self.cancel_timers)


class Builder(Protocol):
    """A decision in the making, as the parts of ``decide`` see it (``decide._Builder``):
    ``emit`` appends an event to ``decision`` and applies it to ``state``."""

    state: RequestState
    ctx: DecisionContext
    decision: Decision

    def emit(self, event: DomainEvent) -> None: ...

    @property
    def now(self) -> datetime: ...

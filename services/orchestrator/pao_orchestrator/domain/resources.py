"""Resources: what a request makes or changes, decided without I/O.

Two halves, both pure:

- an operation request (``SubmitRequest.resource_id`` + ``operation``) is checked
  against the resource's state (``operation_refusal``) and then runs as a request of
  the *operation*: ``operation_item`` gives ``decide`` an item whose form, approval,
  access and fulfilment are the operation's, and its templates see ``resource``;
- ``follow`` derives the resource's events from the request's new events: fulfilment
  of a provisioning request opens the resource, its end makes it active or failed; an
  accepted operation claims the resource (updating / decommissioning), its end settles
  it (updated, decommissioned, or back to active with the failed request linked).

The handler loads the resource stream, calls these and commits the request's and the
resource's events together; the resource stream's primary key makes two operations
racing for one resource a version conflict, and the loser is decided again (refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pao_catalog_model.model import DECOMMISSION, CatalogItem, Operation
from pao_common import messages as m
from pao_common import templating
from pao_common.errors import TemplateError
from pao_common.messages import Requester, SubmitRequest, resource_id_for

from pao_orchestrator.domain import events as ev
from pao_orchestrator.domain import resource_events as rev
from pao_orchestrator.domain.decision import DecisionContext
from pao_orchestrator.domain.events import DomainEvent
from pao_orchestrator.domain.resource_state import ResourceState, evolve_resource
from pao_orchestrator.domain.state import RequestState

# Who refuses an operation request (the ``by`` of its ``RequestRejected``).
ORCHESTRATOR = Requester(id="pao-orchestrator", name="PAO orchestrator")
FULFILLING = frozenset({"in_progress", "rolling_back", "fallback_to_manual"})


@dataclass(frozen=True)
class ResourceTarget:
    """The resource an operation request acts on, as ``decide`` gets it in its context.

    ``item`` is the resource's catalog item at its version (None when the catalog has
    lost it), ``operation`` that item's operation the request names (None: no such one).
    """

    state: ResourceState
    item: CatalogItem | None = None
    operation: Operation | None = None

    @property
    def owner_team(self) -> str | None:
        """The resource owner's team (an approval stage may name it as approver)."""
        return self.state.owner_team


# --- operation requests --------------------------------------------------------------------


def target_of(state: RequestState, message: Any) -> str | None:
    """The resource id an operation request acts on (None for any other request)."""
    if isinstance(message, SubmitRequest) and state.status == "new":
        return message.resource_id
    return state.resource_id


def operation_item(item: CatalogItem, operation: Operation) -> CatalogItem:
    """The item as the operation's request sees it: the operation's form, approval,
    access and fulfilment, the item's metadata (id, version) and everything else."""
    return item.model_copy(
        update={
            "presentation": operation.presentation,
            "approval": operation.approval,
            "change_class": operation.change_class,
            "access": operation.access or item.access,
            "fulfillment": operation.fulfillment,
        }
    )


def operation_refusal(msg: SubmitRequest, target: ResourceTarget | None) -> str | None:
    """Why the operation request ``msg`` may not run (None: it may)."""
    rid = msg.resource_id
    if target is None or not target.state.exists:
        return f"unknown resource {rid!r}"
    res = target.state
    label = f"resource {res.name} ({rid})"
    if msg.operation is None:
        return "an operation request names its operation"
    if msg.item_id != res.item_id:
        return f"{label} is an instance of {res.item_id!r}, not {msg.item_id!r}"
    if res.status == "decommissioned":
        return f"{label} is decommissioned"
    if res.active_request_id is not None:
        running = res.active_operation or "provisioning"
        return f"{label} is busy with request {res.active_request_id} ({running})"
    if res.status != "active":
        return f"{label} is {res.status}, not active"
    if target.item is None:
        return f"item {res.item_id} version {res.item_version} is not in the catalog"
    if target.operation is None:
        declared = ", ".join(o.id for o in target.item.operations) or "none"
        return (
            f"item {res.item_id} version {res.item_version} has no operation "
            f"{msg.operation!r} (it declares: {declared})"
        )
    who = msg.requester
    if not who.is_admin:
        access = target.operation.access or target.item.access
        if not access.allows(who.teams, who.roles):
            return (
                f"{who.id} may not run {msg.operation!r} on {res.item_id}: its access allows "
                f"teams {list(access.teams)} and roles {list(access.roles)}"
            )
        if res.owner_team is not None and res.owner_team not in who.teams:
            return f"{who.id} is not in {label}'s owner team {res.owner_team!r}"
    return None


def refuse(b: Any, msg: SubmitRequest, reason: str) -> None:
    """Record the refused operation request: submitted, linked, rejected with ``reason``."""
    target: ResourceTarget | None = b.ctx.resource
    version = target.state.item_version if target and target.state.exists else msg.item_version
    b.emit(
        ev.RequestSubmitted(
            occurred_at=b.now,
            request_id=msg.request_id,
            item_id=msg.item_id,
            item_version=version or None,
            inputs=msg.inputs,
            requester=msg.requester,
            idempotency_key=msg.idempotency_key,
        )
    )
    link(b, msg)
    b.emit(ev.RequestRejected(occurred_at=b.now, by=ORCHESTRATOR, comment=reason))


def link(b: Any, msg: SubmitRequest) -> None:
    """Name the resource and operation of an operation request in its stream."""
    if msg.resource_id is not None:
        b.emit(
            rev.OperationRequested(
                occurred_at=b.now, resource_id=msg.resource_id, operation=msg.operation or ""
            )
        )


def prefill(msg: SubmitRequest, target: ResourceTarget) -> SubmitRequest:
    """The operation's inputs, its fields that are also the item's taken from the
    resource's inputs when the request leaves them out."""
    assert target.operation is not None  # operation_refusal refuses a request without one
    item_fields = _field_ids(target.item)
    op_fields = {f.id for f in target.operation.presentation.all_fields()}
    current = target.state.inputs
    filled = {
        k: current[k] for k in op_fields & item_fields if k in current and k not in msg.inputs
    }
    if not filled:
        return msg
    return msg.model_copy(update={"inputs": {**filled, **msg.inputs}})


def template_resource(target: ResourceTarget) -> dict[str, Any]:
    """What an operation's templates see as ``resource``."""
    res = target.state
    return {
        "id": res.resource_id,
        "name": res.name,
        "owner_team": res.owner_team,
        "item_version": res.item_version,
        "inputs": dict(res.inputs),
        "outputs": dict(res.outputs),
    }


def with_resource(context: dict[str, Any], ctx: DecisionContext) -> dict[str, Any]:
    """The template context, with ``resource`` for an operation request's templates."""
    target = ctx.resource
    if target is None or not target.state.exists:
        return context
    return {**context, "resource": template_resource(target)}


# --- the resource's events, derived from the request's -------------------------------------


def provisioning_touched(
    before: RequestState, events: Sequence[DomainEvent], after: RequestState
) -> bool:
    """Whether these events of a provisioning request open or settle its resource (so
    the handler loads the resource stream only then, not for every step)."""
    if any(isinstance(e, ev.FulfilmentStarted) for e in events):
        return True
    return after.is_terminal and before.status in FULFILLING


def follow(
    before: RequestState,
    events: Sequence[DomainEvent],
    after: RequestState,
    resource: ResourceState,
    *,
    item: CatalogItem | None = None,
    system: Mapping[str, Any] | None = None,
) -> list[DomainEvent]:
    """The resource events that the request's ``events`` (``before`` -> ``after``) cause.

    ``item`` is the request's item for a provisioning request (its ``resource:`` names
    the resource), the resource's own item for an operation.
    """
    if not events:
        return []
    out: list[DomainEvent] = []
    current = resource

    def emit(event: DomainEvent) -> None:
        nonlocal current
        out.append(event)
        current = evolve_resource(current, event)

    at = events[-1].occurred_at
    rid = after.request_id
    if after.operation is None:
        if any(isinstance(e, ev.FulfilmentStarted) for e in events) and not current.exists:
            emit(_opened(after, item, system or {}, at))
        opened = current.status == "provisioning" and current.active_request_id == rid
        if after.is_terminal and opened:
            if after.status == "completed":
                emit(
                    rev.ResourceProvisioned(
                        occurred_at=at, request_id=rid, inputs=after.inputs, outputs=after.outputs
                    )
                )
            else:
                emit(
                    rev.ResourceProvisioningFailed(
                        occurred_at=at,
                        request_id=rid,
                        error=after.error or after.status,
                        request_status=after.status,
                    )
                )
        return out
    operation = after.operation
    refused = any(isinstance(e, ev.RequestRejected | ev.RequestRejectedInvalid) for e in events)
    claims = any(isinstance(e, rev.OperationRequested) for e in events) and not refused
    if claims and current.status == "active" and current.active_request_id is None:
        emit(
            rev.ResourceOperationStarted(
                occurred_at=at,
                request_id=rid,
                operation=operation,
                status="decommissioning" if operation == DECOMMISSION else "updating",
                submitted_at=after.submitted_at,
            )
        )
    if after.is_terminal and current.active_request_id == rid:
        if after.status != "completed":
            emit(
                rev.ResourceOperationFailed(
                    occurred_at=at,
                    request_id=rid,
                    operation=operation,
                    error=after.error or after.status,
                    request_status=after.status,
                )
            )
        elif operation == DECOMMISSION:
            outputs = {**current.outputs, **after.outputs}
            emit(
                rev.ResourceDecommissioned(
                    occurred_at=at, request_id=rid, operation=operation, outputs=outputs
                )
            )
        else:
            emit(
                rev.ResourceUpdated(
                    occurred_at=at,
                    request_id=rid,
                    operation=operation,
                    inputs=merged_inputs(current.inputs, after.inputs, _field_ids(item)),
                    outputs={**current.outputs, **after.outputs},
                )
            )
    return out


def merged_inputs(
    current: Mapping[str, Any], operation_inputs: Mapping[str, Any], item_fields: set[str]
) -> dict[str, Any]:
    """The resource's inputs after an operation: its own, updated with the operation's
    values for the fields the item declares (an operation-only field, say a reason or a
    confirmation, is not part of the resource). Without the item, only known keys move."""
    known = item_fields or set(current)
    return {**current, **{k: v for k, v in operation_inputs.items() if k in known}}


def _field_ids(item: CatalogItem | None) -> set[str]:
    if item is None:
        return set()
    return {f.id for f in item.presentation.all_fields()}


def _opened(
    request: RequestState, item: CatalogItem | None, system: Mapping[str, Any], at: datetime
) -> rev.ResourceProvisioningStarted:
    resource_id = resource_id_for(request.request_id)
    requester = request.requester
    spec = item.resource if item is not None else None
    owner = None
    if spec is not None and spec.owner_input:
        value = request.inputs.get(spec.owner_input)
        owner = str(value) if value not in (None, "") else None
    if owner is None and requester is not None and requester.teams:
        owner = requester.teams[0]
    return rev.ResourceProvisioningStarted(
        occurred_at=at,
        request_id=request.request_id,
        resource_id=resource_id,
        item_id=request.item_id or "",
        item_version=request.item_version or "",
        name=_name(request, item, system, resource_id, at),
        owner_team=owner,
        requester_id=requester.id if requester else None,
        inputs=request.inputs,
        submitted_at=request.submitted_at,
    )


def default_name(item_id: str, resource_id: str) -> str:
    return f"{item_id}-{resource_id[:8]}"


def _name(
    request: RequestState,
    item: CatalogItem | None,
    system: Mapping[str, Any],
    resource_id: str,
    at: datetime,
) -> str:
    fallback = default_name(request.item_id or "resource", resource_id)
    template = item.resource.name if item is not None else None
    if not template:
        return fallback
    context = templating.build_context(
        inputs=request.inputs,
        user=request.requester,
        item=item,
        request={
            "id": request.request_id,
            "submitted_at": request.submitted_at.isoformat() if request.submitted_at else None,
            "item_version": request.item_version,
        },
        system={**system, "now": at.isoformat()},
    )
    context["resource"] = {"id": resource_id}
    try:
        name = templating.render_string(template, context)
    except TemplateError:
        # Checked when the catalog loads; a name that still fails must not lose the
        # resource, which is then known by its default name.
        return fallback
    return str(name).strip() or fallback


# --- public events -------------------------------------------------------------------------

_PUBLIC: dict[str, type[m.ResourceEvent]] = {cls.__name__: cls for cls in m.RESOURCE_EVENT_TYPES}


def public_event(event: DomainEvent, state: ResourceState) -> m.ResourceEvent:
    """The ``pao.resources.events`` message of ``event``; ``state`` is the resource after it."""
    cls = _PUBLIC[event.event_type]
    operation = getattr(event, "operation", None)
    request_id = getattr(event, "request_id", state.active_request_id or "")
    return cls(
        resource_id=state.resource_id,
        item_id=state.item_id,
        item_version=state.item_version,
        name=state.name,
        owner_team=state.owner_team,
        requester_id=state.requester_id,
        status=state.status or "provisioning",
        request_id=request_id,
        operation=operation,
        inputs=state.inputs,
        outputs=state.outputs,
        error=getattr(event, "error", None),
        version=state.version,
        occurred_at=event.occurred_at,
    )

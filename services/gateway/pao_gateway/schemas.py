"""Bodies of the gateway's HTTP API (what OpenAPI at ``/docs`` shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

API = "/api/v1"


class EmergencyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=1, max_length=4000, description="Why the change cannot wait (recorded)"
    )


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Field(min_length=1, examples=["debug-echo"])
    item_version: str | None = Field(None, description="Pin a catalog version; latest if absent")
    inputs: dict[str, Any] = Field(default_factory=dict, examples=[{"message": "hello"}])
    emergency: EmergencyBody | None = Field(
        None,
        description="Override the change calendar (hold, escalate, deny) with a reason; only"
        " for the calendar's emergency role",
    )


class OperationBody(BaseModel):
    """``POST /resources/{id}/operations/{op}``: the operation's inputs (its fields that are
    also the item's default to the resource's current values)."""

    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict, examples=[{"storage_gb": 120}])
    emergency: EmergencyBody | None = Field(
        None, description="Override the change calendar with a reason, as for a submission"
    )


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(None, max_length=4000)


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=4000)


class Links(BaseModel):
    self: str
    events: str
    stream: str
    cancel: str
    approve: str
    reject: str
    notifications: str

    @classmethod
    def of(cls, request_id: str) -> Links:
        base = f"{API}/requests/{request_id}"
        return cls(
            self=base,
            events=f"{base}/events",
            stream=f"{base}/stream",
            cancel=f"{base}/cancel",
            approve=f"{base}/approve",
            reject=f"{base}/reject",
            notifications=f"{base}/notifications",
        )


class Accepted(BaseModel):
    """A command was accepted; the request's state follows asynchronously."""

    id: str
    status: str
    links: Links


class Person(BaseModel):
    id: str | None = None
    email: str | None = None
    name: str | None = None
    teams: list[str] = Field(default_factory=list)


class Step(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    action_type: str | None = None
    status: str = Field(
        description="pending, running, succeeded, failed, timed_out, cancelled, compensating,"
        " compensated, or skipped: its when: was false, or the request ended before it ran"
        " (then skipped_reason says so)"
    )
    skipped_reason: str | None = Field(
        None, description="Why a step of an ended request never ran ('not run: request rejected')"
    )
    attempts: int = 0
    outputs: dict[str, Any] | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Ticket(BaseModel):
    model_config = ConfigDict(extra="allow")
    key: str | None = None
    url: str | None = None


class StageDecisionOut(BaseModel):
    by: str
    decision: str
    comment: str | None = None
    at: datetime | None = None


class StageOut(BaseModel):
    name: str | None = None
    rule: str = "any"
    n: int | None = None
    approver_users: list[str] = Field(default_factory=list)
    approver_teams: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None
    status: str = "awaiting"
    decisions: list[StageDecisionOut] = Field(
        default_factory=list, description="Who decided what and when"
    )


class ApprovalState(BaseModel):
    """The approval; ``approver_*`` and ``expires_at`` are the current stage's."""

    model_config = ConfigDict(extra="allow")
    required: bool = False
    approver_teams: list[str] = Field(default_factory=list)
    approver_users: list[str] = Field(default_factory=list)
    decided_by: Any = None
    comment: str | None = None
    expires_at: datetime | None = None
    stage: int = Field(0, description="Index of the current stage (0 = first)")
    stage_count: int = 1
    stages: list[StageOut] = Field(default_factory=list, description="The stages begun so far")


class ChangeRequestOut(BaseModel):
    """The request's change request in ServiceNow (``change_requests:`` of the calendar)."""

    model_config = ConfigDict(extra="allow")
    system: str = "servicenow"
    number: str | None = Field(None, description="CHG0010001; absent until it is opened")
    sys_id: str | None = None
    url: str | None = Field(None, description="The change request's form in ServiceNow")
    phase: str = Field("opening", description="opening, open, closing or closed")
    approval: str | None = Field(None, description="requested, approved or rejected")
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    attempts: int = Field(0, description="Attempts to open it so far")
    last_error: str | None = Field(
        None, description="Why the last call to ServiceNow failed (it is tried again)"
    )
    retry_at: datetime | None = Field(None, description="When the failed call is tried again")
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    close_state: str | None = Field(None, description="3 (closed) or 4 (canceled)")
    close_code: str | None = Field(None, description="successful or unsuccessful")


class ChangeOut(BaseModel):
    """The request's change class and what the change calendar did to it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    class_: str = Field("standard", alias="class", description="standard, normal or major")
    window: str | None = Field(None, description="The change window the request met")
    action: str | None = Field(None, description="hold, escalate or deny")
    until: datetime | None = Field(None, description="When that window ends")
    released_at: datetime | None = None
    overridden_by: str | None = None
    override_reason: str | None = None
    emergency_reason: str | None = None
    change_request: ChangeRequestOut | None = None


class NotificationOut(BaseModel):
    """One e-mail or chat message about the request, as the notifier recorded it."""

    trigger: str = Field(description="awaiting_approval, completed, failed, rolled_back, ...")
    channel: str = Field(description="email, slack or teams")
    target: str = Field(description="The e-mail recipients, or the webhook's name")
    recipients: list[str] = Field(default_factory=list)
    subject: str = ""
    status: str = Field(description="pending (being tried), sent or failed (gave up)")
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None


class RequestOut(BaseModel):
    id: str
    item_id: str | None
    item_version: str | None
    status: str
    requester: Person
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    steps: list[Step] = Field(default_factory=list)
    ticket: Ticket | None = None
    approval: ApprovalState | None = None
    change_class: str | None = Field(None, description="standard, normal or major")
    scheduled_until: datetime | None = Field(
        None, description="Status scheduled: when the change window holding it ends"
    )
    change: ChangeOut | None = None
    error: str | None = None
    notifications: list[NotificationOut] | None = Field(
        None,
        description="GET /requests/{id} only: the e-mails and chat messages about the request,"
        " to whom, and whether they were sent (as links.notifications answers)",
    )
    version: int = Field(0, description="Version of the last event applied")
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    links: Links

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RequestOut:
        requester = row.get("requester") or {}
        return cls(
            id=row["request_id"],
            item_id=row.get("item_id"),
            item_version=row.get("item_version"),
            status=row["status"],
            requester=Person(
                id=requester.get("id", row.get("requester_id")),
                email=requester.get("email"),
                name=requester.get("name"),
                teams=list(requester.get("teams") or row.get("requester_teams") or []),
            ),
            inputs=row.get("inputs") or {},
            outputs=row.get("outputs"),
            steps=[Step.model_validate(s) for s in row.get("steps") or []],
            ticket=Ticket.model_validate(row["ticket"]) if row.get("ticket") else None,
            approval=ApprovalState.model_validate(row["approval"]) if row.get("approval") else None,
            change_class=(row.get("change") or {}).get("class"),
            scheduled_until=(
                (row.get("change") or {}).get("until") if row["status"] == "scheduled" else None
            ),
            change=ChangeOut.model_validate(row["change"]) if row.get("change") else None,
            error=row.get("error"),
            version=int(row.get("last_version") or 0),
            submitted_at=row.get("submitted_at"),
            updated_at=row.get("updated_at"),
            completed_at=row.get("completed_at"),
            links=Links.of(row["request_id"]),
        )


class RequestPage(BaseModel):
    items: list[RequestOut]
    limit: int
    offset: int
    next: str | None = Field(None, description="URL of the next page, absent on the last")


class StoredEvent(BaseModel):
    version: int
    event_type: str
    schema_version: int = 1
    data: dict[str, Any] = Field(default_factory=dict)
    recorded_at: datetime | None = None


class EventLog(BaseModel):
    request_id: str
    events: list[StoredEvent]


class FieldErrorOut(BaseModel):
    field: str
    message: str
    in_: str = Field(alias="in")


class ErrorOut(BaseModel):
    detail: str
    errors: list[FieldErrorOut] | None = None
    change_window: dict[str, Any] | None = Field(
        None, description="With a 422 from a change window: its name, end and action"
    )
    retry_after_s: int | None = Field(None, description="With 429: as the Retry-After header")
    running_request: str | None = Field(
        None, description="With a 409 from a busy resource: the request acting on it"
    )


class ApprovalInboxItem(BaseModel):
    """A request whose current stage awaits the caller's decision."""

    request: RequestOut
    stage: StageOut | None = None
    stage_number: int = Field(1, description="1-based, of stage_count")
    stage_count: int = 1


class ApprovalInbox(BaseModel):
    items: list[ApprovalInboxItem]


class NotificationList(BaseModel):
    request_id: str
    items: list[NotificationOut]


# --- resources --------------------------------------------------------------------------


class ResourceLinks(BaseModel):
    self: str
    operations: str

    @classmethod
    def of(cls, resource_id: str) -> ResourceLinks:
        base = f"{API}/resources/{resource_id}"
        return cls(self=base, operations=f"{base}/operations")


class ResourceRequestOut(BaseModel):
    """A request that touched the resource (its provisioning, or an operation)."""

    request_id: str
    operation: str | None = Field(None, description="Absent for the provisioning request")
    status: str
    submitted_at: datetime | None = None
    ended_at: datetime | None = None
    link: str


class ActiveRequestOut(BaseModel):
    """The request the resource is busy with (provisioning or an operation)."""

    request_id: str
    operation: str | None = None
    link: str


class ResourceOut(BaseModel):
    id: str
    item_id: str
    item_version: str
    name: str
    owner_team: str | None = None
    requester_id: str | None = None
    status: str = Field(
        description="provisioning, active, updating, decommissioning, decommissioned or failed"
    )
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="Secret references (${secret:...}), never values"
    )
    active_request: ActiveRequestOut | None = None
    requests: list[ResourceRequestOut] | None = Field(
        None, description="Oldest first; only in GET /resources/{id}"
    )
    error: str | None = None
    version: int = Field(0, description="Version of the resource's last event")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    decommissioned_at: datetime | None = None
    links: ResourceLinks

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ResourceOut:
        active = row.get("active_request_id")
        history = row.get("requests")
        return cls(
            id=row["resource_id"],
            item_id=row["item_id"],
            item_version=row["item_version"],
            name=row["name"],
            owner_team=row.get("owner_team"),
            requester_id=row.get("requester_id"),
            status=row["status"],
            inputs=row.get("inputs") or {},
            outputs=row.get("outputs") or {},
            active_request=(
                ActiveRequestOut(
                    request_id=active,
                    operation=row.get("active_operation"),
                    link=f"{API}/requests/{active}",
                )
                if active
                else None
            ),
            requests=(
                [
                    ResourceRequestOut(**entry, link=f"{API}/requests/{entry['request_id']}")
                    for entry in history
                ]
                if history is not None
                else None
            ),
            error=row.get("error"),
            version=int(row.get("last_version") or 0),
            created_at=row.get("created_at"),
            updated_at=row.get("updated_at"),
            decommissioned_at=row.get("decommissioned_at"),
            links=ResourceLinks.of(row["resource_id"]),
        )


class ResourcePage(BaseModel):
    items: list[ResourceOut]
    limit: int
    next: str | None = Field(None, description="URL of the next page, absent on the last")


class OperationOut(BaseModel):
    """An operation the caller may run on the resource now, with its form."""

    id: str
    title: str
    description: str = ""
    fields: list[str] = Field(default_factory=list, description="What its form asks")
    changes: list[str] = Field(
        default_factory=list, description="The item fields it sets on the resource"
    )
    mode: str = Field(description="manual or automated")
    approval_required: bool = False
    form: dict[str, Any] = Field(
        description="{schema, uiSchema, version, operation, title}; fields the item shares "
        "default to the resource's current values"
    )
    run: str = Field(description="POST here (with an Idempotency-Key) to run it")


class OperationUnavailable(BaseModel):
    id: str
    title: str
    reason: str


class ResourceOperations(BaseModel):
    resource_id: str
    status: str
    decommissionable: bool = Field(description="Whether the item declares a decommission")
    decommission_note: str | None = Field(
        None, description="Why PAO cannot decommission it, when it cannot"
    )
    reason: str | None = Field(
        None, description="Why no operation may run now (decommissioned, busy, ...)"
    )
    operations: list[OperationOut] = Field(description="Those allowed now")
    unavailable: list[OperationUnavailable] = Field(
        default_factory=list, description="Declared but not allowed now, with why"
    )

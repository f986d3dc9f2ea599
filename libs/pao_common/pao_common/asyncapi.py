"""The AsyncAPI 3.0 document of PAO's Kafka API, generated from ``pao_common.messages``.

``build_document()`` returns it as a dict, ``render_yaml()`` as the text committed
in ``docs/asyncapi.yaml`` (a test keeps the two equal; ``pao asyncapi`` writes it).
Every payload schema is the pydantic model's own JSON Schema, so the document
cannot drift from the contracts the services parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from pao_common import topics
from pao_common.identity import CREDENTIAL_HEADER
from pao_common.messages import (
    MESSAGE_TYPES,
    ActionFailed,
    ActionProgress,
    ActionStarted,
    ActionSucceeded,
    ApproveRequest,
    CancelRequest,
    CatalogItemPublished,
    CatalogItemRetired,
    ChangeRequestDecided,
    CommandRefused,
    CompensateAction,
    ExecuteAction,
    Message,
    RejectRequest,
    RequestEvent,
    ResourceDecommissioned,
    ResourceEvent,
    ResourceOperationFailed,
    ResourceOperationStarted,
    ResourceProvisioned,
    ResourceProvisioningFailed,
    ResourceProvisioningStarted,
    ResourceUpdated,
    SubmitRequest,
    TicketResolved,
)

ASYNCAPI_VERSION = "3.0.0"
API_VERSION = "1.0.0"
SCHEMA_REF = "#/components/schemas/{model}"
KAFKA_BINDING_VERSION = "0.5.0"

DESCRIPTION = """\
How systems talk to the Platform Automation Orchestrator over Kafka.

Every record follows the CloudEvents 1.0 Kafka protocol binding in binary content mode:
the attributes travel as `ce_*` headers (`ce_specversion`, `ce_id`, `ce_type`, `ce_source`,
`ce_time`, `ce_subject`), the W3C `traceparent` header carries the trace, the value is the
JSON body described here, and the record key is the request id (also `ce_subject`), so all
messages of one request stay in order on one partition; on `pao.resources.events` it is the
resource id instead, so one resource's history stays in order. Consumers are idempotent on
`ce_id`.
A command acting for a person (submit, cancel, approve, reject) carries its credential in
the `ce_authtoken` header (the person's bearer JWT, or a trusted service's signature); the
identity in its body is checked against it and replaced by it. A record that cannot be
parsed is not dropped: it goes to `pao.dlq` with the reason; a command whose credential is
refused goes there too, and `pao.request.command-refused` on `pao.requests.events` says why.
See docs/kafka-api.md for a walk-through with a runnable example.
"""

SUMMARIES: dict[type[Message], str] = {
    SubmitRequest: "Ask for a catalog item to be provisioned.",
    CancelRequest: "Cancel a request; completed steps are rolled back.",
    ApproveRequest: "Approve a request that awaits approval.",
    RejectRequest: "Reject a request that awaits approval.",
    TicketResolved: "The JIRA ticket of a manual fulfilment was resolved.",
    ChangeRequestDecided: "The ServiceNow change request of a request was approved or rejected.",
    ExecuteAction: "Run one step of an automated fulfilment.",
    CompensateAction: "Undo a completed step during rollback.",
    ActionStarted: "The action has been running for a while (informational).",
    ActionProgress: "Progress of a running action.",
    ActionSucceeded: "The action finished; its outputs feed later steps.",
    ActionFailed: "The action failed; retryable tells whether another attempt may succeed.",
    RequestEvent: "One entry of a request's public event log.",
    CommandRefused: "A command refused for its credential; nothing of the request changed.",
    ResourceProvisioningStarted: "A provisioning request started making a resource.",
    ResourceProvisioned: "A resource was made; it is active.",
    ResourceProvisioningFailed: "The request making a resource failed; nothing is active.",
    ResourceOperationStarted: "A day-2 operation started on a resource.",
    ResourceUpdated: "A day-2 operation completed; the resource is active again.",
    ResourceOperationFailed: "A day-2 operation failed; the resource is as it was.",
    ResourceDecommissioned: "A resource was decommissioned.",
    CatalogItemPublished: "A catalog item version was published.",
    CatalogItemRetired: "A catalog item version was retired.",
}

_ALICE = {"id": "alice", "email": "alice@example.com", "name": "Alice", "teams": ["payments"]}
_IDS = {
    "request_id": "3f0c1e0a-6d0b-4d8e-9a57-2b8c4f1e9d21",
    "command_id": "3f0c1e0a-6d0b-4d8e-9a57-2b8c4f1e9d21:provision:1",
    "step_id": "provision",
}

EXAMPLES: dict[type[Message], dict[str, Any]] = {
    SubmitRequest: {
        "request_id": _IDS["request_id"],
        "item_id": "debug-echo",
        "inputs": {"message": "hello"},
        "requester": _ALICE,
        "idempotency_key": "ci-run-4711",
    },
    CancelRequest: {"request_id": _IDS["request_id"], "by": _ALICE, "reason": "not needed"},
    ApproveRequest: {"request_id": _IDS["request_id"], "by": _ALICE, "comment": "ok"},
    RejectRequest: {"request_id": _IDS["request_id"], "by": _ALICE, "comment": "too big"},
    ExecuteAction: {
        **_IDS,
        "action_type": "debug.log",
        "attempt": 1,
        "inputs": {"message": "hello", "token": "${secret:api-token}"},
        "timeout_s": 60,
    },
    ActionSucceeded: {
        **_IDS,
        "attempt": 1,
        "action_type": "debug.log",
        "outputs": {"message": "hello", "logged_at": "2026-01-01T12:00:00+00:00"},
    },
    ActionFailed: {
        **_IDS,
        "attempt": 1,
        "action_type": "debug.log",
        "error": "invalid inputs for debug.log: message: Field required",
        "retryable": False,
        "error_type": "InvalidActionInputs",
        "details": {"fields": [{"field": "message", "message": "Field required"}]},
    },
    CommandRefused: {
        "request_id": _IDS["request_id"],
        "command_id": "5d1f0c1e-6d0b-4d8e-9a57-2b8c4f1e9d21",
        "command_type": "pao.request.approve",
        "reason": "unauthenticated",
        "detail": "token expired",
        "occurred_at": "2026-01-01T12:00:01+00:00",
    },
    RequestEvent: {
        "request_id": _IDS["request_id"],
        "event_type": "RequestCompleted",
        "version": 7,
        "status": "completed",
        "occurred_at": "2026-01-01T12:00:01+00:00",
        "data": {"outputs": {"message": "hello"}},
    },
}


RESOURCE_EVENT_TYPES_ON_CHANNEL: tuple[type[Message], ...] = (
    ResourceProvisioningStarted,
    ResourceProvisioned,
    ResourceProvisioningFailed,
    ResourceOperationStarted,
    ResourceUpdated,
    ResourceOperationFailed,
    ResourceDecommissioned,
)


@dataclass(frozen=True)
class Channel:
    key: str
    address: str
    description: str
    messages: tuple[type[Message], ...]
    parameters: dict[str, Any] | None = None


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "requestCommands",
        topics.REQUEST_COMMANDS,
        "Commands about requests: from the gateway and from any other system.",
        (
            SubmitRequest,
            CancelRequest,
            ApproveRequest,
            RejectRequest,
            TicketResolved,
            ChangeRequestDecided,
        ),
    ),
    Channel(
        "requestEvents",
        topics.REQUEST_EVENTS,
        "The public event log of every request, relayed from the orchestrator's event store,"
        " and the refusals of commands whose credential did not hold.",
        (RequestEvent, CommandRefused),
    ),
    Channel(
        "resourceEvents",
        topics.RESOURCE_EVENTS,
        "The history of every resource PAO provisioned (key: the resource id), so other"
        " systems (a CMDB, cost reports) can follow the inventory.",
        RESOURCE_EVENT_TYPES_ON_CHANNEL,
    ),
    Channel(
        "actions",
        topics.ACTION_PREFIX + "{family}",
        "Commands for the executor of one action family.",
        (ExecuteAction, CompensateAction),
        {
            "family": {
                "description": "The action type up to its first dot (debug.log -> debug).",
                "examples": ["debug", "jira", "rest", "terraform", "github-workflow"],
            }
        },
    ),
    Channel(
        "actionResults",
        topics.ACTION_RESULTS,
        "What executors report about the commands they run.",
        (ActionStarted, ActionProgress, ActionSucceeded, ActionFailed),
    ),
    Channel(
        "catalogEvents",
        topics.CATALOG_EVENTS,
        "Catalog item versions published and retired.",
        (CatalogItemPublished, CatalogItemRetired),
    ),
)

# (operation id, action, channel key, messages or None for all, summary)
OPERATIONS: tuple[tuple[str, str, str, tuple[type[Message], ...] | None, str], ...] = (
    (
        "receiveRequestCommands",
        "receive",
        "requestCommands",
        None,
        "The orchestrator consumes request commands (group pao-orchestrator).",
    ),
    (
        "sendRequestEvents",
        "send",
        "requestEvents",
        None,
        "The orchestrator publishes every recorded request event.",
    ),
    (
        "sendResourceEvents",
        "send",
        "resourceEvents",
        None,
        "The orchestrator publishes every recorded resource event.",
    ),
    (
        "dispatchActions",
        "send",
        "actions",
        None,
        "The orchestrator sends a command to the executor of the step's action family.",
    ),
    (
        "executeActions",
        "receive",
        "actions",
        None,
        "An executor consumes its family's commands (group pao-executor-<family>).",
    ),
    (
        "reportActionResults",
        "send",
        "actionResults",
        None,
        "Executors report started, progress, succeeded and failed.",
    ),
    (
        "receiveActionResults",
        "receive",
        "actionResults",
        None,
        "The orchestrator consumes action results.",
    ),
    (
        "sendCatalogEvents",
        "send",
        "catalogEvents",
        None,
        "The catalog service announces published and retired item versions.",
    ),
    (
        "sendDeadLetters",
        "send",
        "deadLetters",
        None,
        "Every consumer sends what it cannot parse or handle to the dead-letter topic.",
    ),
)


def _name(model: type[Message]) -> str:
    return model.__name__


ACTING_FOR_A_PERSON = (SubmitRequest, CancelRequest, ApproveRequest, RejectRequest)


def _subject(model: type[Message]) -> str:
    """What the key (and ``ce_subject``) of ``model``'s records is."""
    if issubclass(model, ResourceEvent):
        return "The resource id"
    return "The request id"


def _headers(model: type[Message]) -> dict[str, Any]:
    subject = _subject(model)
    headers: dict[str, Any] = {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_type", "ce_source"],
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": {"type": "string", "description": "Unique id; consumers dedupe on it"},
            "ce_type": {"type": "string", "const": model.ce_type},
            "ce_source": {"type": "string", "description": "Who sent it (a URI-reference)"},
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_subject": {"type": "string", "description": f"{subject} (= the key)"},
            "traceparent": {"type": "string", "description": "W3C trace context"},
            "content-type": {"type": "string", "const": "application/json"},
        },
    }
    if model in ACTING_FOR_A_PERSON:
        headers["required"].append(CREDENTIAL_HEADER)
        headers["properties"][CREDENTIAL_HEADER] = {
            "type": "string",
            "description": "The credential of the person the command acts for: their bearer"
            " JWT from the identity provider (PAO_JWT_ISSUER / PAO_JWT_AUDIENCE), or a compact"
            " JWS of a trusted service bound to this message (the gateway's). The body's"
            " requester / by must name the same person and is replaced by the verified one.",
        }
    return headers


def _kafka_key(model: type[Message]) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "description": _subject(model)},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _message(model: type[Message]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": model.ce_type,
        "title": _name(model),
        "summary": SUMMARIES[model],
        "contentType": "application/json",
        "headers": _headers(model),
        "payload": {"$ref": SCHEMA_REF.format(model=_name(model))},
        "correlationId": {
            "description": _subject(model),
            "location": "$message.header#/ce_subject",
        },
        "bindings": _kafka_key(model),
    }
    if model.__doc__ and model.__doc__ != Message.__doc__:
        message["description"] = " ".join(model.__doc__.split())
    if model in EXAMPLES:
        message["examples"] = [
            {
                "name": f"{_name(model)}Example",
                "headers": {"ce_type": model.ce_type},
                "payload": EXAMPLES[model],
            }
        ]
    return message


def _dead_letter() -> dict[str, Any]:
    return {
        "name": "pao.dlq",
        "title": "DeadLetter",
        "summary": "A record that could not be parsed or handled, kept byte for byte.",
        "description": "The original key, value and headers (a ce_authtoken credential reads"
        " 'redacted'), plus pao_dlq_* headers saying why.",
        "headers": {
            "type": "object",
            "required": ["pao_dlq_reason", "pao_dlq_error_type", "pao_dlq_source_topic"],
            "properties": {
                "pao_dlq_reason": {"type": "string", "description": "What was wrong"},
                "pao_dlq_error_type": {"type": "string", "examples": ["InvalidMessage"]},
                "pao_dlq_source_topic": {"type": "string"},
                "pao_dlq_source_partition": {"type": "string"},
                "pao_dlq_source_offset": {"type": "string"},
                "pao_dlq_consumer": {"type": "string", "description": "Service that gave up"},
                "pao_dlq_time": {"type": "string", "format": "date-time"},
            },
            "additionalProperties": {"type": "string", "description": "The original headers"},
        },
        "payload": {"description": "The original record value, unchanged (any bytes)"},
    }


def _schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in MESSAGE_TYPES.values()
    ]
    _, definitions = models_json_schema(models, ref_template=SCHEMA_REF)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return dict(sorted(schemas.items()))


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every PAO topic and message."""
    messages: dict[str, Any] = {_name(m): _message(m) for m in MESSAGE_TYPES.values()}
    messages["DeadLetter"] = _dead_letter()
    channels: dict[str, Any] = {}
    for channel in CHANNELS:
        entry: dict[str, Any] = {
            "address": channel.address,
            "description": channel.description,
            "messages": {
                _name(m): {"$ref": f"#/components/messages/{_name(m)}"} for m in channel.messages
            },
        }
        if channel.parameters:
            entry["parameters"] = channel.parameters
        channels[channel.key] = entry
    channels["deadLetters"] = {
        "address": topics.DLQ,
        "description": "Messages no consumer could parse or handle, with the reason.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    operations: dict[str, Any] = {}
    for op_id, action, channel_key, only, summary in OPERATIONS:
        names = [_name(m) for m in only] if only else list(channels[channel_key]["messages"])
        operations[op_id] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_key}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel_key}/messages/{name}"} for name in names],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "PAO Kafka API",
            "version": API_VERSION,
            "description": DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The broker `pao dev` starts (bundled, in memory)",
            },
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka as in docker-compose.yml and deploy/",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas()},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the descriptions read as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_yaml(document: dict[str, Any] | None = None) -> str:
    """The document as YAML, the way ``docs/asyncapi.yaml`` holds it."""
    header = "# Generated by `pao asyncapi --output docs/asyncapi.yaml`; do not edit by hand.\n"
    body = yaml.dump(
        document or build_document(),
        Dumper=_Dumper,
        sort_keys=False,
        width=100,
        allow_unicode=True,
    )
    return header + body

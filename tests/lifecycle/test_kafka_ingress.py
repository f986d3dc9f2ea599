"""Must-show: other systems submit over Kafka and follow the request on its event topic,
and a command that does not prove whom it acts for changes nothing (issue #10, finding 1).

Written with bare aiokafka only (no PAO helpers), CloudEvents binary-mode headers by
hand, exactly as docs/kafka-api.md tells another team to do it; the bearer tokens an
identity provider would issue come from the development issuer
(``tests.support.credentials``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.executors.test_kafka_api_docs import documented_client
from tests.lifecycle.conftest import start_platform
from tests.support.credentials import credential, credential_for, user_token
from tests.support.platform import Platform, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The submitting system's trace: every message PAO sends for the request continues it.
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def headers(ce_type: str, request_id: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"urn:other-system:provisioner"),
        ("ce_type", ce_type.encode()),
        ("ce_subject", request_id.encode()),
        ("ce_time", b"2026-01-01T12:00:00Z"),
        ("content-type", b"application/json"),
    ]


async def read_until(
    bootstrap: str, topic: str, done: Any, *, deadline_s: float = 120.0
) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"other-system-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    seen: list[Any] = []
    stop = time.monotonic() + deadline_s
    try:
        while time.monotonic() < stop:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen.extend(records)
            if done(seen):
                return seen
        raise AssertionError(f"{topic}: condition not met; saw {len(seen)} record(s)")
    finally:
        await consumer.stop()


async def test_submit_over_kafka_and_follow_events(
    make_platform: Callable[..., Platform], test_id: str, tmp_path: Path
) -> None:
    platform = await start_platform(make_platform())
    topics = platform.topics
    request_id = f"ingress-{test_id}"
    producer = AIOKafkaProducer(bootstrap_servers=platform.bootstrap)
    await producer.start()
    try:
        body: dict[str, Any] = {
            "request_id": request_id,
            "item_id": "debug-echo",
            "inputs": {"message": "hello from another system"},
            "requester": {"id": "svc-provisioner", "teams": ["platform"]},
        }
        await producer.send_and_wait(
            topics.request_commands,
            json.dumps(body).encode(),
            key=request_id.encode(),
            headers=[
                *headers("pao.request.submit", request_id),
                ("traceparent", TRACEPARENT.encode()),
                credential_for(platform.settings, body["requester"]),
            ],
        )
        # two malformed messages: a submission without item_id, and a body that is no JSON
        await producer.send_and_wait(
            topics.request_commands,
            json.dumps({**body, "request_id": f"{request_id}-bad", "item_id": None}).encode(),
            key=f"{request_id}-bad".encode(),
            headers=headers("pao.request.submit", f"{request_id}-bad"),
        )
        await producer.send_and_wait(
            topics.request_commands,
            b"{not json",
            key=f"{request_id}-garbage".encode(),
            headers=headers("pao.request.submit", f"{request_id}-garbage"),
        )
    finally:
        await producer.stop()

    def completed(records: list[Any]) -> bool:
        return any(
            r.key == request_id.encode() and json.loads(r.value)["status"] == "completed"
            for r in records
        )

    records = await read_until(platform.bootstrap, topics.request_events, completed)
    mine = [r for r in records if r.key == request_id.encode()]
    events = [json.loads(r.value) for r in mine]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event_type"] == "RequestSubmitted"
    assert events[-1]["event_type"] == "RequestCompleted"
    assert events[-1]["data"]["outputs"] == {"message": "hello from another system"}
    first = dict(mine[0].headers)
    assert first["ce_type"] == b"pao.request.event"
    assert first["ce_subject"] == request_id.encode()
    # The trace crosses the orchestrator (outbox) and the executor (command and answer):
    # the events of both commits, before and after the action ran, carry it.
    traces = {dict(r.headers)["traceparent"].decode().split("-")[1] for r in mine}
    assert traces == {TRACE_ID}, traces

    def dead(records: list[Any]) -> bool:
        keys = {r.key for r in records}
        return {f"{request_id}-bad".encode(), f"{request_id}-garbage".encode()} <= keys

    letters = {
        r.key.decode(): {k: v.decode() for k, v in r.headers}
        for r in await read_until(platform.bootstrap, topics.dlq, dead)
    }
    bad = letters[f"{request_id}-bad"]
    assert bad["pao_dlq_source_topic"] == topics.request_commands
    assert "item_id" in bad["pao_dlq_reason"], bad["pao_dlq_reason"]
    garbage = letters[f"{request_id}-garbage"]
    assert garbage["pao_dlq_error_type"] == "InvalidMessage"
    assert "json" in garbage["pao_dlq_reason"].lower(), garbage["pao_dlq_reason"]

    # The client of docs/kafka-api.md, against the real platform: with a valid token its
    # request completes; with an expired one it is told why and stops.
    client = documented_client(tmp_path)
    client.BOOTSTRAP = platform.bootstrap  # type: ignore[attr-defined]
    client.COMMANDS = topics.request_commands  # type: ignore[attr-defined]
    client.EVENTS = topics.request_events  # type: ignore[attr-defined]
    carol = {"id": "carol"}
    status, last = await client.provision(
        "debug-echo", {"message": "docs"}, carol, user_token(platform.settings, "carol")
    )
    assert (status, last["data"]["outputs"]) == ("completed", {"message": "docs"})
    expired = user_token(platform.settings, "carol", ttl_s=-120)
    status, why = await client.provision("debug-echo", {"message": "late"}, carol, expired)
    assert (status, why["reason"], why["detail"]) == ("refused", "unauthenticated", "token expired")


# An item only the security team may approve (as catalog/production-access.yaml).
GATED_ITEM = """\
schemaVersion: "2.0"
metadata:
  id: gated-echo
  name: Gated echo
  version: 1.0.0
  owner: platform
  category: debug
  description: debug-echo behind an approval by the security team.
  lifecycle: active
presentation:
  fields:
    - {id: message, type: string, label: Message, required: true}
approval:
  required: true
  approvers: {teams: [security]}
  expires_after: 1h
fulfillment:
  mode: automated
  automated:
    steps:
      - id: echo
        action: debug.log
        with: {message: "{{ inputs.message }}"}
        timeout_s: 30
    outputs:
      message: "{{ steps.echo.outputs.message }}"
examples:
  - name: hello
    user: {id: alice, teams: [payments]}
    inputs: {message: hello}
"""


def letters_by_id(records: list[Any]) -> dict[str, dict[str, str]]:
    """Dead letters by the ``ce_id`` of the command they hold."""
    out = {}
    for r in records:
        h = {k: v.decode() for k, v in r.headers}
        if "ce_id" in h:
            out[h["ce_id"]] = h
    return out


def refusals_by_command(records: list[Any]) -> dict[str, dict[str, Any]]:
    return {
        body["command_id"]: body
        for r in records
        if dict(r.headers).get("ce_type") == b"pao.request.command-refused"
        for body in [json.loads(r.value)]
    }


async def test_forged_commands_are_refused_credentialed_ones_complete(
    make_platform: Callable[..., Platform], db_pool: asyncpg.Pool, test_id: str
) -> None:
    platform = make_platform(with_gateway=True)
    (platform.settings.catalog_dir / "gated-echo.yaml").write_text(GATED_ITEM)
    await start_platform(platform)
    topics, settings = platform.topics, platform.settings
    forged_id, gated_id = f"forged-{test_id}", f"gated-{test_id}"
    mallory = {"id": "mallory", "teams": ["security"], "roles": ["platform-admin"]}
    alice = {"id": "alice", "teams": ["payments"]}
    submit = {"request_id": forged_id, "item_id": "gated-echo", "inputs": {"message": "x"}}
    sent: dict[str, str] = {}  # what each command was: ce_id -> label

    producer = AIOKafkaProducer(bootstrap_servers=platform.bootstrap)
    await producer.start()

    async def send(label: str, ce_type: str, body: dict[str, Any], *extra: Any) -> None:
        h = headers(ce_type, body["request_id"])
        sent[dict(h)["ce_id"].decode()] = label
        record = (json.dumps(body).encode(), body["request_id"].encode(), [*h, *extra])
        records[label] = record
        await producer.send_and_wait(
            topics.request_commands, record[0], key=record[1], headers=record[2]
        )

    records: dict[str, tuple[bytes, bytes, list[Any]]] = {}

    def approve(by: dict[str, Any]) -> dict[str, Any]:
        return {"request_id": gated_id, "by": by, "comment": "ok"}

    try:
        # Finding 1: a submission as an invented user, then an approval as an "admin"...
        await send("forged submit", "pao.request.submit", {**submit, "requester": mallory})
        # (delivered twice: it is refused once)
        value, key, again = records["forged submit"]
        await producer.send_and_wait(topics.request_commands, value, key=key, headers=again)
        # ... or with a genuine token of someone else than the body names
        await send(
            "submit as another",
            "pao.request.submit",
            {**submit, "requester": mallory},
            credential_for(settings, alice),
        )
        # alice's own submission, with her token: it waits for the security team
        await send(
            "alice submits",
            "pao.request.submit",
            {**submit, "request_id": gated_id, "requester": alice},
            credential_for(settings, alice),
        )
        await wait_until(db_pool, [gated_id], {"awaiting_approval"}, platform=platform)
        await send("forged approval", "pao.request.approve", approve(mallory))
        # alice's genuine token, her body claiming platform-admin: the roles come from
        # the token, and the domain refuses her (ApprovalRefused), as for any non-approver
        await send(
            "alice as admin",
            "pao.request.approve",
            approve({"id": "alice", "roles": ["platform-admin"]}),
            credential_for(settings, alice),
        )
        bob = {"id": "bob", "teams": ["security"]}
        expired = user_token(settings, "bob", teams=["security"], ttl_s=-120)
        await send("expired", "pao.request.approve", approve(bob), credential(expired))
        other_audience = user_token(
            settings.model_copy(update={"jwt_audience": "another-service"}),
            "bob",
            teams=["security"],
        )
        await send("audience", "pao.request.approve", approve(bob), credential(other_audience))
        await send(
            "bob approves", "pao.request.approve", approve(bob), credential_for(settings, bob)
        )
    finally:
        await producer.stop()

    ended = await wait_until(db_pool, [gated_id], platform=platform)
    assert ended == {gated_id: "completed"}
    refused = {label for label in sent.values()} - {
        "alice submits",
        "alice as admin",
        "bob approves",
    }

    # Every refused command is in the dead-letter topic with the reason ...
    def all_dead(records: list[Any]) -> bool:
        return {sent_id for sent_id, label in sent.items() if label in refused} <= set(
            letters_by_id(records)
        )

    letters = letters_by_id(await read_until(platform.bootstrap, topics.dlq, all_dead))
    reasons = {sent[i]: (h["pao_dlq_error_type"], h["pao_dlq_reason"]) for i, h in letters.items()}
    assert reasons["forged submit"][0] == "Unauthenticated"
    assert reasons["forged submit"][1].startswith("unauthenticated: no credential")
    assert reasons["submit as another"] == (
        "Forbidden",
        "forbidden: the body acts for 'mallory' but the credential is 'alice''s",
    )
    assert reasons["forged approval"][1].startswith("unauthenticated: no credential")
    assert reasons["expired"] == ("Unauthenticated", "unauthenticated: token expired")
    assert reasons["audience"] == (
        "Unauthenticated",
        "unauthenticated: token audience is not 'pao'",
    )
    assert all(letters[i]["pao_dlq_source_topic"] == topics.request_commands for i in letters)
    # alice's genuine token is not copied into the dead-letter topic
    [another] = [h for i, h in letters.items() if sent[i] == "submit as another"]
    assert another["ce_authtoken"] == "redacted"

    # ... and the sender, following the request, sees why on the events topic.
    def all_told(records: list[Any]) -> bool:
        return len(refusals_by_command(records)) >= len(refused)

    events = await read_until(platform.bootstrap, topics.request_events, all_told)
    told = refusals_by_command(events)
    forged_submit = next(i for i, label in sent.items() if label == "forged submit")
    told_twice = [
        r
        for r in events
        if dict(r.headers).get("ce_type") == b"pao.request.command-refused"
        and json.loads(r.value)["command_id"] == forged_submit
    ]
    assert len(told_twice) == 1, "a command delivered twice is refused once"
    assert {sent[i] for i in told} == refused
    for command_id, refusal in told.items():
        error_type, reason = reasons[sent[command_id]]
        assert reason == f"{refusal['reason']}: {refusal['detail']}"
        assert error_type == refusal["reason"].capitalize()
        assert refusal["command_type"] in ("pao.request.submit", "pao.request.approve")
    # The forged submissions created no request at all.
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM request_events WHERE stream_id = $1", forged_id
        )
        == 0
    )
    assert (
        await db_pool.fetchval("SELECT count(*) FROM request_view WHERE request_id = $1", forged_id)
        == 0
    )
    # alice's approval was taken for what her token says she is, and refused by the domain.
    log = [
        (r["event_type"], json.loads(r["data"]))
        for r in await db_pool.fetch(
            "SELECT event_type, data::text AS data FROM request_events"
            " WHERE stream_id = $1 ORDER BY version",
            gated_id,
        )
    ]
    [(_, refusal)] = [(t, d) for t, d in log if t == "ApprovalRefused"]
    assert refusal["by"]["id"] == "alice" and refusal["by"]["roles"] == []
    [(_, approved)] = [(t, d) for t, d in log if t == "RequestApproved"]
    assert approved["by"]["id"] == "bob" and approved["by"]["teams"] == ["security"]

    # The gateway path: alice submits over HTTP, bob approves over HTTP; the gateway signs
    # each command for its user and the orchestrator accepts its signature.
    assert platform.gateway is not None
    async with httpx.AsyncClient(base_url=platform.gateway.url, timeout=30) as client:
        r = await client.post(
            "/api/v1/requests",
            json={"item_id": "gated-echo", "inputs": {"message": "via the gateway"}},
            headers={"Authorization": f"Bearer {platform.token('alice', ['payments'])}"},
        )
        assert r.status_code == 202, r.text
        via_gateway = r.json()["id"]
        await wait_until(db_pool, [via_gateway], {"awaiting_approval"}, platform=platform)
        r = await client.post(
            f"/api/v1/requests/{via_gateway}/approve",
            json={"comment": "fine"},
            headers={"Authorization": f"Bearer {platform.token('bob', ['security'])}"},
        )
        assert r.status_code == 202, r.text
    assert await wait_until(db_pool, [via_gateway], platform=platform) == {via_gateway: "completed"}

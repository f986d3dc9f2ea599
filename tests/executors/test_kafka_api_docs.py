"""The Kafka client printed in docs/kafka-api.md runs, and PAO's parser accepts what it sends.

A stand-in for the orchestrator reads the command with PAO's own parser, checks its
credential with the orchestrator's own ``CommandAuthenticator`` and answers with request
events (one delivered twice, one of another request in between); the documented client
must ignore the noise and return at the finished status. The same client against the
real platform, accepted and refused: tests/lifecycle/test_kafka_ingress.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pao_common.cloudevents import decode_headers, from_kafka
from pao_common.identity import build_verifier
from pao_common.kafka import ensure_topics
from pao_common.messages import (
    ApproveRequest,
    CancelRequest,
    CommandRefused,
    RejectRequest,
    Requester,
    RequestEvent,
    ResourceUpdated,
    SubmitRequest,
    parse_message,
    to_cloudevent,
)
from pao_common.service_tokens import ServiceSigner, TrustedServices
from pao_common.settings import Profile, Settings
from pao_common.topics import Topics
from pao_orchestrator.authentication import CommandAuthenticator

from tests.executors.kafka_io import ce_headers
from tests.support.credentials import user_token

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "kafka-api.md"


def documented_client(tmp_path: Path) -> ModuleType:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- example: kafka_client\.py.*?-->\n```python\n(.*?)```", text, re.S)
    assert found, "the example block is missing from docs/kafka-api.md"
    path = tmp_path / "kafka_client.py"
    path.write_text(found.group(1))
    spec = importlib.util.spec_from_file_location("kafka_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def stand_in_orchestrator(settings: Settings, received: list[SubmitRequest]) -> None:
    topics = Topics(settings.topic_suffix)
    consumer = AIOKafkaConsumer(
        topics.request_commands,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"stand-in-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    authenticator = CommandAuthenticator(
        build_verifier(settings),
        TrustedServices.from_settings(settings),
        issuer=settings.jwt_issuer,
    )
    await consumer.start()
    await producer.start()
    try:
        async for record in consumer:
            event = from_kafka(decode_headers(record.headers), record.value)
            message = await authenticator.authenticate(
                parse_message(event, (SubmitRequest,)), event
            )
            assert isinstance(message, SubmitRequest)
            assert record.key == message.request_id.encode() == (event.subject or "").encode()
            received.append(message)
            rid = message.request_id
            history = [
                (rid, 1, "RequestSubmitted", "submitted"),
                ("someone-else", 1, "RequestSubmitted", "submitted"),
                (rid, 2, "FulfilmentStarted", "in_progress"),
                (rid, 2, "FulfilmentStarted", "in_progress"),  # delivered again
                ("someone-else", 2, "RequestCompleted", "completed"),
                (rid, 3, "RequestCompleted", "completed"),
            ]
            for request_id, version, event_type, status in history:
                body = RequestEvent(
                    request_id=request_id,
                    event_type=event_type,
                    version=version,
                    status=status,
                    occurred_at=datetime.now(UTC),
                    data={"outputs": {"message": message.inputs["message"]}},
                )
                await producer.send_and_wait(
                    topics.request_events,
                    body.model_dump_json().encode(),
                    key=request_id.encode(),
                    headers=ce_headers(RequestEvent.ce_type, request_id),
                )
    finally:
        await producer.stop()
        await consumer.stop()


async def test_documented_client_submits_and_follows_to_the_end(
    settings: Settings, tmp_path: Path
) -> None:
    topics = Topics(settings.topic_suffix)
    await ensure_topics(settings.kafka_bootstrap, topics.core(), partitions=3)
    client = documented_client(tmp_path)
    client.BOOTSTRAP = settings.kafka_bootstrap  # type: ignore[attr-defined]
    client.COMMANDS = topics.request_commands  # type: ignore[attr-defined]
    client.EVENTS = topics.request_events  # type: ignore[attr-defined]
    received: list[SubmitRequest] = []
    orchestrator = asyncio.create_task(stand_in_orchestrator(settings, received))
    token = user_token(settings, "alice", teams=["payments"])
    try:
        status, last = await asyncio.wait_for(
            client.provision("debug-echo", {"message": "from the docs"}, {"id": "alice"}, token),
            timeout=60,
        )
    finally:
        orchestrator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await orchestrator
    assert status == "completed"
    [submitted] = received
    assert (submitted.item_id, submitted.inputs) == ("debug-echo", {"message": "from the docs"})
    # the requester as the token says: the teams come from it, not from the body
    assert (submitted.requester.id, submitted.requester.teams) == ("alice", ("payments",))
    assert last["request_id"] == submitted.request_id and last["version"] == 3
    assert last["data"] == {"outputs": {"message": "from the docs"}}


def test_documented_json_bodies_are_valid_contracts() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    bodies = [json.loads(line) for block in blocks for line in _json_values(block)]
    assert len(bodies) == 8
    refused, submit, operation, cancel, approve, reject, event, resource_event = bodies
    CommandRefused.model_validate(refused)
    SubmitRequest.model_validate(submit)
    assert SubmitRequest.model_validate(operation).operation == "update"
    ResourceUpdated.model_validate(resource_event)
    CancelRequest.model_validate(cancel)
    ApproveRequest.model_validate(approve)
    RejectRequest.model_validate(reject)
    RequestEvent.model_validate(event)


def _json_values(block: str) -> list[str]:
    """A block holds one pretty-printed object or several one-line objects."""
    stripped = block.strip()
    if stripped.startswith("{\n"):
        return [stripped]
    return [line for line in stripped.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_documented_service_key_commands_make_a_key_pair_that_signs_and_verifies(
    tmp_path: Path,
) -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    commands = re.findall(r"`(openssl [^`]+)`", text)
    assert len(commands) == 2, commands
    for command in commands:
        subprocess.run(shlex.split(command), cwd=tmp_path, check=True, capture_output=True)
    production = Settings(
        profile=Profile.PRODUCTION,
        service_signing_key_file=tmp_path / "gateway.pem",
        service_trusted_keys=f"pao-gateway={tmp_path / 'gateway-public.pem'}",
    )
    alice = Requester(id="alice")
    event = to_cloudevent(CancelRequest(request_id="r-1", by=alice), source="t", subject="r-1")
    token = ServiceSigner.from_settings(production).sign(event, alice)
    assert TrustedServices.from_settings(production).verify(token, event) == alice

"""Kafka security over real sockets: PAO clients built from settings produce and consume
through TLS, mTLS, SASL/PLAIN over TLS and SASL/OAUTHBEARER (tokens from a local OAuth 2.0
token endpoint), and are refused with a wrong CA, without a client certificate or with a
wrong password.

The bundled broker (Tansu 0.6) terminates neither TLS nor SASL, so ``KafkaFrontDoor``
(tests/support/kafka_front.py) does, in front of it, with the broker advertising the front
door's address. SCRAM is covered by the settings tests only: neither speaks it here.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaMessage
from pao_common.errors import KafkaTokenError
from pao_common.kafka import BrokerEpoch, create_broker, ensure_topics
from pao_common.kafka_security import OAuthClientCredentials, kafka_security
from pao_common.settings import KafkaOAuthClientAuth, Profile, Settings
from pao_devtools.broker import BundledBroker
from pao_devtools.ports import free_port

from tests.support.certs import Pki, make_ca, make_pki
from tests.support.kafka_front import KafkaFrontDoor, SaslAccounts
from tests.support.oauth_server import TokenEndpoint

pytestmark = pytest.mark.integration

Door = Callable[..., Awaitable[KafkaFrontDoor]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_tls(pki: Pki, *, client_certificates: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_file))
    context.load_cert_chain(pki.server_cert_file, pki.server_key_file)
    context.verify_mode = ssl.CERT_REQUIRED if client_certificates else ssl.CERT_NONE
    return context


@pytest.fixture
async def front_door() -> AsyncIterator[Door]:
    """Starts a bundled broker advertising a front door's port, and the front door."""
    started: list[tuple[BundledBroker, KafkaFrontDoor]] = []

    async def start(**options: Any) -> KafkaFrontDoor:
        door_port = free_port()
        broker = BundledBroker(free_port(), advertised_port=door_port)
        await asyncio.to_thread(broker.start)
        door = KafkaFrontDoor(broker.port, door_port, **options)
        started.append((broker, door))
        await door.start()
        return door

    yield start
    for broker, door in started:
        await door.stop()
        await asyncio.to_thread(broker.stop)


def secured(door: KafkaFrontDoor, **values: Any) -> Settings:
    return Settings(
        profile=Profile.TEST,
        _env_file=None,
        kafka_bootstrap=f"127.0.0.1:{door.port}",
        kafka_fetch_max_wait_ms=20,
        **values,
    )


async def round_trip(settings: Settings) -> bytes:
    """Create a topic, publish a record and consume it with PAO's own clients (admin,
    FastStream producer and subscriber, the epoch consumer), all built from ``settings``."""
    security = kafka_security(settings)
    topic = f"secure-{uuid.uuid4().hex[:8]}"
    created = await ensure_topics(
        settings.kafka_bootstrap, [topic], partitions=1, security=security
    )
    assert created == [topic]
    broker = create_broker(settings, client_id="security-test")
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def on_record(body: bytes) -> None:
        message: KafkaMessage = broker.context.get_local("message")
        record = message.raw_message
        if not received.done() and not isinstance(record, tuple):
            received.set_result(record.value)

    broker.subscriber(
        topic,
        group_id=f"security-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )(on_record)
    epoch = BrokerEpoch(settings.kafka_bootstrap, topic, client_id="security", security=security)
    await broker.start()
    try:
        await broker.publish(b"over a secured connection", topic)
        value = await asyncio.wait_for(received, 30)
        await epoch.start()  # commits and reads back an offset through the coordinator
        assert not await epoch.lost()
        await epoch.stop()
        return value
    finally:
        await broker.stop()


async def test_tls_round_trip(front_door: Door, pki: Pki) -> None:
    door = await front_door(tls=server_tls(pki))
    settings = secured(door, kafka_security_protocol="SSL", kafka_ssl_ca_file=pki.ca_file)
    assert await round_trip(settings) == b"over a secured connection"
    assert door.connections >= 3  # bootstrap, then the coordinator and leader connections


async def test_tls_refuses_a_broker_certificate_from_another_ca(
    front_door: Door, pki: Pki, tmp_path: Path
) -> None:
    door = await front_door(tls=server_tls(pki))
    _, _, other_ca = make_ca(tmp_path, "someone-elses-ca")
    settings = secured(door, kafka_security_protocol="SSL", kafka_ssl_ca_file=other_ca)
    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        await ensure_topics(
            settings.kafka_bootstrap,
            ["never"],
            partitions=1,
            security=kafka_security(settings),
            timeout_s=5,
        )


async def test_mtls_round_trip_and_refusal_without_a_client_certificate(
    front_door: Door, pki: Pki
) -> None:
    door = await front_door(tls=server_tls(pki, client_certificates=True))
    without = secured(door, kafka_security_protocol="SSL", kafka_ssl_ca_file=pki.ca_file)
    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        await ensure_topics(
            without.kafka_bootstrap,
            ["never"],
            partitions=1,
            security=kafka_security(without),
            timeout_s=5,
        )
    settings = secured(
        door,
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=pki.ca_file,
        kafka_ssl_cert_file=pki.client_cert_file,
        kafka_ssl_key_file=pki.client_encrypted_key_file,
        kafka_ssl_key_password=pki.client_key_password,
    )
    assert await round_trip(settings) == b"over a secured connection"


async def test_sasl_plain_over_tls_round_trip_and_wrong_password(
    front_door: Door, pki: Pki
) -> None:
    accounts = SaslAccounts(plain={"pao-gateway": "s3cret"})
    door = await front_door(tls=server_tls(pki), sasl=accounts)
    values = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "PLAIN",
        "kafka_ssl_ca_file": pki.ca_file,
        "kafka_sasl_username": "pao-gateway",
    }
    wrong = secured(door, kafka_sasl_password="guess", **values)
    with pytest.raises(KafkaError):
        await ensure_topics(
            wrong.kafka_bootstrap,
            ["never"],
            partitions=1,
            security=kafka_security(wrong),
            timeout_s=5,
        )
    assert accounts.refused == ["Authentication failed: invalid credentials for user pao-gateway"]
    assert accounts.authenticated == []

    settings = secured(door, kafka_sasl_password="s3cret", **values)
    assert await round_trip(settings) == b"over a secured connection"
    assert len(accounts.authenticated) >= 3
    assert set(accounts.authenticated) == {"User:pao-gateway"}


async def test_oauthbearer_round_trip_with_one_token_for_every_connection(
    front_door: Door, pki: Pki, tmp_path: Path
) -> None:
    endpoint = TokenEndpoint(
        free_port(),
        client_id="pao-orchestrator",
        client_secret="cs-1",
        tls=(pki.server_cert_file, pki.server_key_file),
    )
    await endpoint.start()
    try:
        accounts = SaslAccounts(bearer_valid=endpoint.valid)
        door = await front_door(tls=server_tls(pki), sasl=accounts)
        (tmp_path / "client-secret").write_text("cs-1\n")
        settings = secured(
            door,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="OAUTHBEARER",
            kafka_ssl_ca_file=pki.ca_file,
            kafka_oauth_token_url=endpoint.url,  # https, its certificate from the test CA
            kafka_oauth_ca_file=pki.ca_file,
            kafka_oauth_client_id="pao-orchestrator",
            kafka_oauth_client_secret_file=tmp_path / "client-secret",
            kafka_oauth_scope="kafka",
            kafka_oauth_extensions="logicalCluster=lkc-1, identityPoolId=pool-2",
        )
        assert await round_trip(settings) == b"over a secured connection"
        assert accounts.extensions[0] == {"logicalCluster": "lkc-1", "identityPoolId": "pool-2"}
        assert len(endpoint.issued) == 1  # cached: every connection presented the same token
        assert len(accounts.authenticated) >= 3
        assert set(accounts.authenticated) == {f"Bearer:{endpoint.issued[0]}"}
    finally:
        await endpoint.stop()


# --- the token provider against the token endpoint ---------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def endpoint() -> AsyncIterator[TokenEndpoint]:
    server = TokenEndpoint(free_port(), client_id="pao", client_secret="cs", expires_in=100)
    await server.start()
    yield server
    await server.stop()


async def test_client_credentials_request_with_basic_auth(endpoint: TokenEndpoint) -> None:
    provider = OAuthClientCredentials(endpoint.url, "pao", "cs", scope="kafka")
    assert await provider.token() == endpoint.issued[0]
    assert endpoint.requests == [
        {
            "content_type": "application/x-www-form-urlencoded",
            "basic": True,
            "form": {"grant_type": "client_credentials", "scope": "kafka"},
        }
    ]


async def test_client_credentials_request_with_the_secret_in_the_form(
    endpoint: TokenEndpoint,
) -> None:
    provider = OAuthClientCredentials(
        endpoint.url, "pao", "cs", client_auth=KafkaOAuthClientAuth.POST
    )
    assert await provider.token() == endpoint.issued[0]
    assert endpoint.requests[0]["basic"] is False
    assert endpoint.requests[0]["form"] == {
        "grant_type": "client_credentials",
        "client_id": "pao",
        "client_secret": "cs",
    }


async def test_token_is_cached_and_refreshed_before_it_expires(endpoint: TokenEndpoint) -> None:
    clock = Clock()
    provider = OAuthClientCredentials(endpoint.url, "pao", "cs", clock=clock)
    first = await asyncio.gather(*(provider.token() for _ in range(5)))
    assert len(endpoint.issued) == 1 and set(first) == {endpoint.issued[0]}
    clock.now += 79  # expires_in=100: still within 80% of its lifetime
    assert await provider.token() == endpoint.issued[0]
    clock.now += 2  # past 80%: a new one before the old one expires
    assert await provider.token() == endpoint.issued[1] != endpoint.issued[0]
    assert len(endpoint.requests) == 2


async def test_refused_client_credentials_are_a_token_error(endpoint: TokenEndpoint) -> None:
    provider = OAuthClientCredentials(endpoint.url, "pao", "wrong")
    with pytest.raises(KafkaTokenError, match=r"answered 401.*invalid_client"):
        await provider.token()


async def test_unreachable_token_endpoint_is_a_transient_token_error() -> None:
    provider = OAuthClientCredentials(f"http://127.0.0.1:{free_port()}/token", "pao", "cs")
    with pytest.raises(KafkaTokenError, match="unreachable") as error:
        await provider.token()
    assert isinstance(error.value, ConnectionError)  # retried like a broker outage

"""Kafka client security from settings: what each protocol / mechanism gives the clients,
the combinations refused at start, and a guard that no Kafka client of the product is
built without it. (Real TLS / SASL connections: test_kafka_security_live.py.)"""

from __future__ import annotations

import ast
import importlib
import ssl
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faststream.kafka.security import parse_security
from faststream.security import (
    BaseSecurity,
    SASLOAuthBearer,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from pao_cli.main import main as pao
from pao_common.errors import ConfigurationError
from pao_common.kafka import create_broker
from pao_common.kafka_security import OAuthClientCredentials, kafka_security
from pao_common.settings import Profile, Settings
from pao_devtools.ports import free_port
from pao_executors.registry import EXECUTOR_SERVICES

from tests.support.certs import Pki, make_pki

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def kafka_settings(**values: Any) -> Settings:
    return Settings(profile=Profile.TEST, _env_file=None, **values)


def test_plaintext_is_the_default() -> None:
    security = kafka_security(kafka_settings())
    assert security.client_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert security.broker_kwargs() == {"security": None}


def test_ssl_verifies_the_broker_against_the_ca_file(pki: Pki) -> None:
    security = kafka_security(
        kafka_settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki.ca_file)
    )
    kwargs = security.client_kwargs()
    context = kwargs["ssl_context"]
    assert kwargs["security_protocol"] == "SSL"
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "pao-test-ca"),),)]
    fs = security.faststream_security()
    assert type(fs) is BaseSecurity and fs.use_ssl and fs.ssl_context is context
    assert parse_security(fs) == {"security_protocol": "SSL", "ssl_context": context}


def test_hostname_check_can_be_switched_off(pki: Pki) -> None:
    security = kafka_security(
        kafka_settings(
            kafka_security_protocol="SSL",
            kafka_ssl_ca_file=pki.ca_file,
            kafka_ssl_check_hostname=False,
        )
    )
    assert security.ssl_context is not None and not security.ssl_context.check_hostname


def test_mtls_loads_the_client_certificate_with_an_encrypted_key(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "key-password").write_text(pki.client_key_password + "\n")
    security = kafka_security(
        kafka_settings(
            kafka_security_protocol="SSL",
            kafka_ssl_ca_file=pki.ca_file,
            kafka_ssl_cert_file=pki.client_cert_file,
            kafka_ssl_key_file=pki.client_encrypted_key_file,
            kafka_ssl_key_password_file=tmp_path / "key-password",
        )
    )
    assert security.ssl_context is not None


def test_a_wrong_key_password_is_a_configuration_error(pki: Pki) -> None:
    with pytest.raises(ConfigurationError, match="PAO_KAFKA_SSL_CERT_FILE: cannot load client"):
        kafka_security(
            kafka_settings(
                kafka_security_protocol="SSL",
                kafka_ssl_cert_file=pki.client_cert_file,
                kafka_ssl_key_file=pki.client_encrypted_key_file,
                kafka_ssl_key_password="not-it",
            )
        )


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
@pytest.mark.parametrize(
    ("mechanism", "faststream_type"),
    [("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)],
)
def test_password_mechanisms(
    pki: Pki, tmp_path: Path, protocol: str, mechanism: str, faststream_type: type
) -> None:
    # The password from a mounted Secret file, as ``kubectl create secret --from-file`` writes it.
    (tmp_path / "password").write_text("s3cret\n")
    tls = {"kafka_ssl_ca_file": pki.ca_file} if protocol == "SASL_SSL" else {}
    security = kafka_security(
        kafka_settings(
            kafka_security_protocol=protocol,
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username="pao",
            kafka_sasl_password_file=tmp_path / "password",
            **tls,
        )
    )
    kwargs = security.client_kwargs()
    assert kwargs["security_protocol"] == protocol
    assert kwargs["sasl_mechanism"] == mechanism
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("pao", "s3cret")
    assert isinstance(kwargs.get("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")
    fs = security.faststream_security()
    assert type(fs) is faststream_type
    # FastStream turns its object into the same aiokafka arguments the raw clients get.
    assert parse_security(fs) == {"ssl_context": None, **kwargs}
    assert "s3cret" not in repr(security)


def test_oauthbearer_gets_a_client_credentials_token_provider(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "client-secret").write_text("very-secret")
    security = kafka_security(
        kafka_settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="OAUTHBEARER",
            kafka_ssl_ca_file=pki.ca_file,
            kafka_oauth_token_url="https://idp.example/oauth2/token",
            kafka_oauth_client_id="pao-orchestrator",
            kafka_oauth_client_secret_file=tmp_path / "client-secret",
            kafka_oauth_scope="kafka",
            kafka_oauth_extensions="logicalCluster=lkc-abc12,identityPoolId=pool-Xy9",
        )
    )
    kwargs = security.client_kwargs()
    provider = kwargs["sasl_oauth_token_provider"]
    assert isinstance(provider, OAuthClientCredentials)
    assert provider.extensions() == {"logicalCluster": "lkc-abc12", "identityPoolId": "pool-Xy9"}
    assert (provider.token_url, provider.client_id, provider.scope) == (
        "https://idp.example/oauth2/token",
        "pao-orchestrator",
        "kafka",
    )
    assert kwargs["sasl_mechanism"] == "OAUTHBEARER"
    broker_kwargs = security.broker_kwargs()
    assert type(broker_kwargs["security"]) is SASLOAuthBearer
    assert broker_kwargs["sasl_oauth_token_provider"] is provider
    assert parse_security(broker_kwargs["security"])["security_protocol"] == "SASL_SSL"


def test_one_security_per_process_settings(pki: Pki) -> None:
    values = {"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": pki.ca_file}
    assert kafka_security(kafka_settings(**values)) is kafka_security(kafka_settings(**values))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"kafka_security_protocol": "SASL_SSL"},
            "PAO_KAFKA_SASL_MECHANISM: required with security protocol SASL_SSL",
        ),
        (
            {"kafka_sasl_mechanism": "PLAIN"},
            "PAO_KAFKA_SASL_MECHANISM: PLAIN needs PAO_KAFKA_SECURITY_PROTOCOL SASL_SSL",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512"},
            "PAO_KAFKA_SASL_USERNAME: required with SASL mechanism SCRAM-SHA-512",
        ),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "SCRAM-SHA-256",
                "kafka_sasl_username": "pao",
            },
            "PAO_KAFKA_SASL_PASSWORD: required (or its _FILE) with SASL mechanism SCRAM-SHA-256",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "pao",
                "kafka_sasl_password": "a",
                "kafka_sasl_password_file": "/run/secrets/kafka-password",
            },
            "PAO_KAFKA_SASL_PASSWORD_FILE: give either PAO_KAFKA_SASL_PASSWORD or"
            " PAO_KAFKA_SASL_PASSWORD_FILE, not both",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "pao",
                "kafka_sasl_password_file": "/nonexistent/kafka-password",
            },
            "PAO_KAFKA_SASL_PASSWORD_FILE: cannot read /nonexistent/kafka-password",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
            "PAO_KAFKA_OAUTH_TOKEN_URL: required with SASL mechanism OAUTHBEARER",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_oauth_token_url": "idp.example/token",
            },
            "PAO_KAFKA_OAUTH_TOKEN_URL: 'idp.example/token' is not an http(s) URL",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_oauth_token_url": "https://idp.example/token",
            },
            "PAO_KAFKA_OAUTH_CLIENT_ID: required with SASL mechanism OAUTHBEARER",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_oauth_token_url": "https://idp.example/token",
                "kafka_oauth_client_id": "pao",
            },
            "PAO_KAFKA_OAUTH_CLIENT_SECRET: required (or its _FILE) with SASL mechanism",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_oauth_token_url": "https://idp.example/token",
                "kafka_oauth_client_id": "pao",
                "kafka_oauth_client_secret": "cs",
                "kafka_oauth_extensions": "logicalCluster:lkc-1",
            },
            "PAO_KAFKA_OAUTH_EXTENSIONS: 'logicalCluster:lkc-1' is not key=value",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_oauth_token_url": "https://keycloak.svc/token",
                "kafka_oauth_client_id": "pao",
                "kafka_oauth_client_secret": "cs",
                "kafka_oauth_ca_file": "/nonexistent/keycloak-ca.pem",
            },
            "PAO_KAFKA_OAUTH_CA_FILE: cannot load CA bundle /nonexistent/keycloak-ca.pem",
        ),
        (
            {"kafka_ssl_ca_file": "/etc/kafka/ca.pem"},
            "PAO_KAFKA_SSL_CA_FILE: set, but security protocol PLAINTEXT does not use TLS",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_key_file": "/etc/kafka/client.key"},
            "PAO_KAFKA_SSL_CERT_FILE: required with PAO_KAFKA_SSL_KEY_FILE (mTLS)",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/nonexistent/ca.pem"},
            "PAO_KAFKA_SSL_CA_FILE: cannot load CA bundle /nonexistent/ca.pem",
        ),
    ],
)
def test_bad_combinations_fail_at_start_naming_setting_and_rule(
    values: dict[str, Any], message: str
) -> None:
    settings = kafka_settings(**values)
    with pytest.raises(ConfigurationError) as error:
        kafka_security(settings)
    assert message in str(error.value)
    with pytest.raises(ConfigurationError):  # the services' broker is made at start
        create_broker(settings, client_id="x")


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text("from-a-secret")
    for name, value in {
        "PAO_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "PAO_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PAO_KAFKA_SASL_USERNAME": "pao",
        "PAO_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "secret"),
    }.items():
        monkeypatch.setenv(name, value)
    kwargs = kafka_security(Settings(_env_file=None)).client_kwargs()
    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "pao",
        "sasl_plain_password": "from-a-secret",
    }


# --- every client the product builds gets it -------------------------------------------


def _service_apps() -> dict[str, Any]:
    factories = {
        "catalog": "pao_catalog.app",
        "gateway": "pao_gateway.app",
        "orchestrator": "pao_orchestrator.app",
        **{f"executor-{name}": module for name, module in EXECUTOR_SERVICES.items()},
        "cmdb-sync": "pao_executors.cmdb.app",
    }
    return {name: importlib.import_module(module).create_app for name, module in factories.items()}


@pytest.mark.parametrize("service", sorted(_service_apps()))
def test_every_service_broker_connects_with_the_settings(
    service: str, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAO_JIRA_URL", "http://127.0.0.1:9")  # the JIRA executor's own check
    monkeypatch.setenv("PAO_JIRA_TOKEN", "unused")
    monkeypatch.setenv("PAO_CMDB_URL", "http://127.0.0.1:9")  # the CMDB sync's own check
    monkeypatch.setenv("PAO_CMDB_USER", "unused")
    monkeypatch.setenv("PAO_SERVICENOW_URL", "http://127.0.0.1:9")  # the servicenow executor's
    monkeypatch.setenv("PAO_SERVICENOW_USER", "unused")
    settings = kafka_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=f"pao-{service}",
        kafka_sasl_password="s3cret",
        kafka_ssl_ca_file=pki.ca_file,
        catalog_dir=REPO / "catalog",
        jwt_dev_key_dir=tmp_path / "jwt",
        service_dev_key_dir=tmp_path / "service",
    )
    app = _service_apps()[service](settings)
    broker = app.state.runtime.broker
    expected = kafka_security(settings).client_kwargs()
    producer_kwargs = broker._connection_kwargs  # what the producer and admin are built with
    consumer_kwargs = broker.config.broker_config.builder.keywords  # every subscriber's consumer
    for kwargs in (producer_kwargs, consumer_kwargs):
        assert {k: kwargs.get(k) for k in expected} == expected
        assert kwargs["ssl_context"] is kafka_security(settings).ssl_context


_RAW_CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "KafkaBroker"}
_SECURED_CALLS = {"ensure_topics", "BrokerEpoch"}


def _name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def test_no_kafka_client_in_the_product_is_built_without_the_security_settings() -> None:
    """Every Kafka client in libs/ and services/ is built in pao_common/kafka.py with the
    security arguments spread in, and every ``ensure_topics`` / ``BrokerEpoch`` call
    elsewhere passes ``security=``: a new client that forgets fails here."""
    offenders: list[str] = []
    for path in sorted([*REPO.glob("libs/**/*.py"), *REPO.glob("services/**/*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            spread = [
                _name(k.value.func)
                for k in node.keywords
                if k.arg is None and isinstance(k.value, ast.Call)
            ]
            if name in _RAW_CLIENTS:
                if str(where) != "libs/pao_common/pao_common/kafka.py":
                    offenders.append(f"{where}:{node.lineno}: {name} built outside kafka.py")
                elif not {"client_kwargs", "broker_kwargs"} & set(spread):
                    offenders.append(f"{where}:{node.lineno}: {name} without security kwargs")
            elif name in _SECURED_CALLS and not any(k.arg == "security" for k in node.keywords):
                offenders.append(f"{where}:{node.lineno}: {name} without security=")
    assert offenders == []


def test_every_security_setting_is_documented() -> None:
    doc = (REPO / "docs" / "kafka-security.md").read_text()
    prefixes = ("kafka_security", "kafka_sasl", "kafka_ssl", "kafka_oauth")
    names = [n for n in Settings.model_fields if n.startswith(prefixes)]
    assert len(names) == 20
    missing = [n for n in names if f"`PAO_{n.upper().removesuffix('_FILE')}" not in doc]
    assert missing == []


def test_the_cli_refuses_a_bad_combination_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAO_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    for command in (["kafka", "create-topics"], ["dev"]):
        result = CliRunner().invoke(pao, command)
        assert result.exit_code == 1, result.output
        assert "PAO_KAFKA_SASL_MECHANISM: required with security protocol SASL_SSL" in (
            result.output
        )


def test_pao_dev_refuses_tls_or_sasl_with_the_bundled_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAO_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("PAO_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PAO_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("PAO_KAFKA_SASL_USERNAME", "pao")
    monkeypatch.setenv("PAO_KAFKA_SASL_PASSWORD", "s3cret")
    result = CliRunner().invoke(pao, ["dev", "--broker-port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert "PAO_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs PAO_KAFKA_BOOTSTRAP" in result.output

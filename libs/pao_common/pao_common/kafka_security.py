"""Kafka client security: the ``PAO_KAFKA_*`` settings turned into what each client needs.

``kafka_security(settings)`` checks the combination (a ``ConfigurationError`` naming the
setting and the rule, at start, not at the first reconnect), reads the files (CA, client
certificate, secrets mounted from a Kubernetes Secret) and returns one ``KafkaSecurity``
per process. It gives FastStream's ``KafkaBroker`` a ``faststream.security`` object
(``broker_kwargs``) and every raw aiokafka client (admin, epoch consumer) the same
settings as keyword arguments (``client_kwargs``), so no client of the product can
connect differently from the others.

SASL/OAUTHBEARER gets its token from an OAuth 2.0 token endpoint with the
client-credentials grant (``OAuthClientCredentials``), the way Confluent Cloud, Amazon
MSK (with an IAM-to-OIDC bridge) and Strimzi with Keycloak expect it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka.abc import AbstractTokenProvider
from faststream.security import (
    BaseSecurity,
    SASLOAuthBearer,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from pydantic import SecretStr

from pao_common.errors import ConfigurationError, KafkaTokenError
from pao_common.settings import (
    KafkaOAuthClientAuth,
    KafkaSaslMechanism,
    KafkaSecurityProtocol,
    Settings,
)

log = logging.getLogger(__name__)

_TLS = {KafkaSecurityProtocol.SSL, KafkaSecurityProtocol.SASL_SSL}
_SASL = {KafkaSecurityProtocol.SASL_PLAINTEXT, KafkaSecurityProtocol.SASL_SSL}
_PASSWORD_MECHANISMS = {
    KafkaSaslMechanism.PLAIN,
    KafkaSaslMechanism.SCRAM_SHA_256,
    KafkaSaslMechanism.SCRAM_SHA_512,
}
# Fetch a new token once this share of its lifetime has passed (Kafka's Java client
# refreshes at 80% too: ``sasl.login.refresh.window.factor``).
REFRESH_AT_SHARE = 0.8
# A token endpoint that gives no ``expires_in`` is asked again after this long.
DEFAULT_TOKEN_LIFETIME_S = 300.0


class OAuthClientCredentials(AbstractTokenProvider):  # type: ignore[misc]  # untyped
    """Access tokens for SASL/OAUTHBEARER from the OAuth 2.0 client-credentials grant.

    POSTs ``grant_type=client_credentials`` (and ``scope``) as a form to the token
    endpoint, the client authenticated with HTTP Basic (``client_secret_basic``) or with
    ``client_id`` / ``client_secret`` in the form (``client_secret_post``), RFC 6749 4.4.
    The token is shared by every connection of the process (aiokafka asks on each new
    one) and fetched anew once ``REFRESH_AT_SHARE`` of its ``expires_in`` has passed, so
    a reconnect never presents an expired token. Concurrent askers wait for one request.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str = "",
        client_auth: KafkaOAuthClientAuth = KafkaOAuthClientAuth.BASIC,
        timeout_s: float = 10.0,
        verify: ssl.SSLContext | bool = True,
        extensions: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.client_auth = client_auth
        self._timeout_s = timeout_s
        self._verify = verify
        self._clock = clock
        self._extensions = dict(extensions or {})
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    def extensions(self) -> dict[str, str]:
        """SASL extensions (RFC 7628 3.1) sent with the token; aiokafka asks for them."""
        return dict(self._extensions)

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        options: dict[str, Any] = {}
        if self.client_auth is KafkaOAuthClientAuth.BASIC:
            options["auth"] = httpx.BasicAuth(self.client_id, self._client_secret)
        else:
            form |= {"client_id": self.client_id, "client_secret": self._client_secret}
        asked_at = self._clock()
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s, verify=self._verify) as http:
                response = await http.post(
                    self.token_url, data=form, headers={"Accept": "application/json"}, **options
                )
        except httpx.HTTPError as exc:
            raise KafkaTokenError(f"token endpoint {self.token_url} unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise KafkaTokenError(
                f"token endpoint {self.token_url} answered {response.status_code}:"
                f" {response.text[:200]}"
            )
        try:
            body = response.json()
            access_token = body["access_token"]
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_S)
        except (ValueError, KeyError, TypeError) as exc:
            raise KafkaTokenError(
                f"token endpoint {self.token_url} gave no access_token: {exc!r}"
            ) from exc
        if not isinstance(access_token, str) or not access_token:
            raise KafkaTokenError(f"token endpoint {self.token_url} gave an empty access_token")
        self._token = access_token
        self._refresh_at = asked_at + lifetime * REFRESH_AT_SHARE
        self.fetches += 1
        log.info("kafka access token fetched for %s, valid %.0fs", self.client_id, lifetime)


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of this process connects and authenticates."""

    protocol: KafkaSecurityProtocol = KafkaSecurityProtocol.PLAINTEXT
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: KafkaSaslMechanism | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    token_provider: AbstractTokenProvider | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer`` / ``Consumer`` / ``AdminClient``."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol.value}
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        if self.sasl_mechanism is not None:
            kwargs["sasl_mechanism"] = self.sasl_mechanism.value
            if self.sasl_mechanism is KafkaSaslMechanism.OAUTHBEARER:
                kwargs["sasl_oauth_token_provider"] = self.token_provider
            else:
                kwargs["sasl_plain_username"] = self.username
                kwargs["sasl_plain_password"] = self.password
        return kwargs

    def faststream_security(self) -> BaseSecurity | None:
        """The ``faststream.security`` object ``KafkaBroker(security=...)`` expects."""
        tls = self.protocol in _TLS
        match self.sasl_mechanism:
            case None:
                return BaseSecurity(ssl_context=self.ssl_context) if tls else None
            case KafkaSaslMechanism.PLAIN:
                return SASLPlaintext(self.username, self.password, self.ssl_context, use_ssl=tls)
            case KafkaSaslMechanism.SCRAM_SHA_256:
                return SASLScram256(self.username, self.password, self.ssl_context, use_ssl=tls)
            case KafkaSaslMechanism.SCRAM_SHA_512:
                return SASLScram512(self.username, self.password, self.ssl_context, use_ssl=tls)
            case KafkaSaslMechanism.OAUTHBEARER:
                return SASLOAuthBearer(self.ssl_context, use_ssl=tls)

    def broker_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for FastStream's ``KafkaBroker`` (its security object and,
        for OAUTHBEARER, the token provider, which FastStream takes separately)."""
        kwargs: dict[str, Any] = {"security": self.faststream_security()}
        if self.token_provider is not None:
            kwargs["sasl_oauth_token_provider"] = self.token_provider
        return kwargs


PLAINTEXT = KafkaSecurity()

_by_settings: dict[tuple[object, ...], KafkaSecurity] = {}


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The process's ``KafkaSecurity`` for ``settings`` (built once: one SSL context and one
    token cache shared by all its clients); ``ConfigurationError`` for a bad combination."""
    key = tuple(
        value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings
        if name.startswith(("kafka_sasl", "kafka_ssl", "kafka_oauth", "kafka_security"))
    )
    security = _by_settings.get(key)
    if security is None:
        security = _by_settings[key] = _build(settings)
    return security


def _build(settings: Settings) -> KafkaSecurity:
    protocol = settings.kafka_security_protocol
    mechanism = settings.kafka_sasl_mechanism
    _check(settings)
    context = _ssl_context(settings) if protocol in _TLS else None
    if protocol not in _SASL:
        return KafkaSecurity(protocol, context)
    assert mechanism is not None  # _check
    if mechanism is KafkaSaslMechanism.OAUTHBEARER:
        provider = OAuthClientCredentials(
            settings.kafka_oauth_token_url,
            settings.kafka_oauth_client_id,
            _secret(settings, "kafka_oauth_client_secret"),
            scope=settings.kafka_oauth_scope,
            client_auth=settings.kafka_oauth_client_auth,
            timeout_s=settings.kafka_oauth_timeout_s,
            extensions=_extensions(settings.kafka_oauth_extensions),
            verify=_token_endpoint_tls(settings),
        )
        return KafkaSecurity(protocol, context, mechanism, token_provider=provider)
    return KafkaSecurity(
        protocol,
        context,
        mechanism,
        username=settings.kafka_sasl_username,
        password=_secret(settings, "kafka_sasl_password"),
    )


def _env(name: str) -> str:
    return f"PAO_{name.upper()}"


def _fail(setting: str, rule: str) -> ConfigurationError:
    return ConfigurationError(f"{_env(setting)}: {rule} (docs/kafka-security.md)")


def _has_secret(settings: Settings, name: str) -> bool:
    return getattr(settings, name) is not None or getattr(settings, f"{name}_file") is not None


def _check(settings: Settings) -> None:
    protocol = settings.kafka_security_protocol
    mechanism = settings.kafka_sasl_mechanism
    for name in ("kafka_sasl_password", "kafka_ssl_key_password", "kafka_oauth_client_secret"):
        if getattr(settings, name) is not None and getattr(settings, f"{name}_file") is not None:
            raise _fail(f"{name}_file", f"give either {_env(name)} or {_env(name)}_FILE, not both")
    if protocol in _SASL and mechanism is None:
        raise _fail("kafka_sasl_mechanism", f"required with security protocol {protocol}")
    if protocol not in _SASL and mechanism is not None:
        raise _fail(
            "kafka_sasl_mechanism",
            f"{mechanism} needs PAO_KAFKA_SECURITY_PROTOCOL SASL_SSL or SASL_PLAINTEXT,"
            f" not {protocol}",
        )
    if protocol not in _TLS:
        for name in ("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file"):
            if getattr(settings, name) is not None:
                raise _fail(name, f"set, but security protocol {protocol} does not use TLS")
    if settings.kafka_ssl_key_file is not None and settings.kafka_ssl_cert_file is None:
        raise _fail("kafka_ssl_cert_file", "required with PAO_KAFKA_SSL_KEY_FILE (mTLS)")
    if mechanism in _PASSWORD_MECHANISMS:
        _check_password(settings, mechanism)
    if mechanism is KafkaSaslMechanism.OAUTHBEARER:
        _check_oauth(settings)


def _check_password(settings: Settings, mechanism: KafkaSaslMechanism) -> None:
    if not settings.kafka_sasl_username:
        raise _fail("kafka_sasl_username", f"required with SASL mechanism {mechanism}")
    if not _has_secret(settings, "kafka_sasl_password"):
        raise _fail(
            "kafka_sasl_password", f"required (or its _FILE) with SASL mechanism {mechanism}"
        )


def _check_oauth(settings: Settings) -> None:
    url = settings.kafka_oauth_token_url
    if not url:
        raise _fail("kafka_oauth_token_url", "required with SASL mechanism OAUTHBEARER")
    if not url.startswith(("https://", "http://")):
        raise _fail("kafka_oauth_token_url", f"{url!r} is not an http(s) URL")
    if not settings.kafka_oauth_client_id:
        raise _fail("kafka_oauth_client_id", "required with SASL mechanism OAUTHBEARER")
    if not _has_secret(settings, "kafka_oauth_client_secret"):
        raise _fail(
            "kafka_oauth_client_secret",
            "required (or its _FILE) with SASL mechanism OAUTHBEARER",
        )
    _extensions(settings.kafka_oauth_extensions)


_EXTENSION_KEY = re.compile(r"[A-Za-z]+")


def _extensions(text: str) -> dict[str, str]:
    """``key=value,key=value`` as RFC 7628 allows it: keys are letters and ``auth`` is
    taken; values are printable and hold no comma (the separator of this setting)."""
    extensions: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not _EXTENSION_KEY.fullmatch(key) or key == "auth":
            raise _fail(
                "kafka_oauth_extensions",
                f"{item!r} is not key=value with a key of letters other than 'auth'",
            )
        if not value.isprintable():
            raise _fail("kafka_oauth_extensions", f"the value of {key!r} is not printable")
        extensions[key] = value
    return extensions


def _secret(settings: Settings, name: str) -> str:
    """The secret ``name``, inline or read from ``<name>_file`` (trailing newline dropped:
    ``kubectl create secret --from-file`` keeps the file's)."""
    value: SecretStr | None = getattr(settings, name)
    if value is not None:
        return value.get_secret_value()
    path: Path | None = getattr(settings, f"{name}_file")
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise _fail(f"{name}_file", f"cannot read {path}: {exc.strerror or exc}") from exc


def _token_endpoint_tls(settings: Settings) -> ssl.SSLContext | bool:
    """How the token endpoint's certificate is checked: against its own CA bundle (an
    in-cluster Keycloak), else against the system's CAs."""
    ca_file = settings.kafka_oauth_ca_file
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise _fail("kafka_oauth_ca_file", f"cannot load CA bundle {ca_file}: {exc}") from exc


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context: the broker's certificate verified against the CA file (or the
    system's CAs), its host name checked unless switched off, a client certificate for mTLS."""
    ca_file = settings.kafka_ssl_ca_file
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise _fail("kafka_ssl_ca_file", f"cannot load CA bundle {ca_file}: {exc}") from exc
    context.check_hostname = settings.kafka_ssl_check_hostname
    cert_file = settings.kafka_ssl_cert_file
    if cert_file is not None:
        key_file = settings.kafka_ssl_key_file
        password = _secret(settings, "kafka_ssl_key_password") or None
        try:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None, password)
        except (OSError, ssl.SSLError) as exc:
            raise _fail(
                "kafka_ssl_cert_file",
                f"cannot load client certificate {cert_file} / key {key_file}: {exc}",
            ) from exc
    return context

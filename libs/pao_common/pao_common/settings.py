"""Settings for every PAO process, in one place.

Every value comes from a ``PAO_``-prefixed environment variable (or ``.env``).
The *profile* picks defaults that differ between a laptop and production: the
bundled dev broker answers a fetch only when ``fetch_max_wait_ms`` expires, so
the ``local`` and ``test`` profiles keep it small, while ``production`` keeps
Apache Kafka's own default. A consumer that fetches nothing for a while lengthens its
wait up to ``idle_fetch_max_wait_ms`` (local and test profiles; production: no change)
and shortens it again at the first record, so an idle platform stops polling hard.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Profile(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PRODUCTION = "production"


class KafkaSecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class KafkaSaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    OAUTHBEARER = "OAUTHBEARER"


class KafkaOAuthClientAuth(StrEnum):
    BASIC = "client_secret_basic"
    POST = "client_secret_post"


_FETCH_MAX_WAIT_MS = {Profile.LOCAL: 5, Profile.TEST: 5, Profile.PRODUCTION: 500}
# The longest wait of a consumer that got nothing for a while (``IdleFetchWait``). The
# bundled broker answers every fetch when the wait is up, so each idle consumer polls it
# a few times a second instead of 200; the first record after idle waits at most this long
# per hop (a request after idle crosses two idle consumers: orchestrator, executor).
# ``pao dev`` (local) waits 400 ms: idle, its nine consumers' polls were most of the
# broker's CPU (30 s idle on a quiet machine: broker 12.5% of a core at 200 ms, 6.5% at
# 400 ms; the platform 19% and 13%), and two idle hops stay within the 1 s a first
# request may take. Tests keep 200 ms: they idle between steps and wait for each hop.
# Production: None, Apache Kafka long-polls (an idle consumer costs nothing there).
_IDLE_FETCH_MAX_WAIT_MS: dict[Profile, int | None] = {
    Profile.LOCAL: 400,
    Profile.TEST: 200,
    Profile.PRODUCTION: None,
}
# The bundled broker answers a group join after about half the session timeout, and a
# service joins one group per subscriber: a short timeout makes local starts quick.
# Production keeps the client's default (10 s), sized for real networks and pauses.
_SESSION_TIMEOUT_MS = {Profile.LOCAL: 4_000, Profile.TEST: 4_000, Profile.PRODUCTION: 10_000}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAO_", env_file=".env", extra="ignore")

    profile: Profile = Profile.LOCAL
    environment: str = Field("local", description="Environment name shown to templates")
    portal_url: str = "http://127.0.0.1:8080"

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_fetch_max_wait_ms: int | None = Field(
        None, description="Overrides the profile's fetch_max_wait_ms"
    )
    kafka_idle_fetch_max_wait_ms: int | None = Field(
        None,
        description="Overrides the profile's longest fetch wait of a consumer that gets"
        " nothing (0: never lengthen it)",
    )
    kafka_session_timeout_ms: int | None = Field(
        None, description="Overrides the profile's consumer group session timeout"
    )
    kafka_linger_ms: int = Field(
        0,
        description="How long a producer holds records back to batch them (Apache Kafka 4.0"
        " defaults to 5; PAO's producers already batch what queues while a request is in"
        " flight, and 5 ms per hop made the lifecycle bench slower, no cheaper)",
    )
    kafka_client_id: str = "pao"
    topic_partitions: int = Field(
        12,
        description="Partitions of the topics PAO creates: at most this many replicas of a"
        " service share its work (and the bundled broker's fetches cost less when spread)",
    )
    topic_suffix: str = Field("", description="Appended to every topic name (tests, tenants)")

    # Kafka client security (docs/kafka-security.md): every client PAO creates (services,
    # executor SDK, CLI) gets it through ``pao_common.kafka_security``, which also checks
    # the combination and raises ``ConfigurationError`` at start. Each secret may be given
    # inline or as a ``*_FILE`` path (a mounted Kubernetes Secret).
    kafka_security_protocol: KafkaSecurityProtocol = KafkaSecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: KafkaSaslMechanism | None = Field(
        None, description="Required with SASL_PLAINTEXT / SASL_SSL"
    )
    kafka_sasl_username: str = Field("", description="PLAIN / SCRAM user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="PLAIN / SCRAM password")
    kafka_sasl_password_file: Path | None = Field(None, description="File holding the password")
    kafka_ssl_ca_file: Path | None = Field(
        None, description="PEM CA bundle the broker certificate must chain to (else system CAs)"
    )
    kafka_ssl_cert_file: Path | None = Field(None, description="PEM client certificate (mTLS)")
    kafka_ssl_key_file: Path | None = Field(None, description="PEM key of the client certificate")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="Passphrase of the key")
    kafka_ssl_key_password_file: Path | None = Field(None, description="File holding it")
    kafka_ssl_check_hostname: bool = Field(
        True, description="Check the broker certificate names the host connected to"
    )
    kafka_oauth_token_url: str = Field("", description="OAUTHBEARER: OAuth 2.0 token endpoint")
    kafka_oauth_client_id: str = ""
    kafka_oauth_client_secret: SecretStr | None = None
    kafka_oauth_client_secret_file: Path | None = None
    kafka_oauth_scope: str = Field("", description="Space-separated scopes asked for, if any")
    kafka_oauth_client_auth: KafkaOAuthClientAuth = Field(
        KafkaOAuthClientAuth.BASIC,
        description="client_secret_basic (HTTP Basic, RFC 6749 2.3.1) or client_secret_post",
    )
    kafka_oauth_timeout_s: float = Field(10.0, description="Budget of one token request")
    kafka_oauth_ca_file: Path | None = Field(
        None, description="PEM CA bundle of the token endpoint's certificate (else system CAs)"
    )
    kafka_oauth_extensions: str = Field(
        "",
        description="SASL extensions sent with the token, `key=value` comma-separated"
        " (Confluent Cloud: logicalCluster=lkc-...,identityPoolId=pool-...)",
    )

    # PostgreSQL and Redis
    database_url: str = "postgresql://postgres@127.0.0.1:5432/pao"
    database_pool_max: int = 10
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Empty: run without Redis")
    redis_prefix: str = "pao:"

    # Catalog
    catalog_dir: Path = Path("catalog")
    catalog_url: str = "http://127.0.0.1:8081"
    catalog_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of one call to the catalog's API (item versions)"
    )

    # Ports of the local platform (``pao dev``)
    gateway_port: int = 8080
    catalog_port: int = 8081
    orchestrator_port: int = 8082
    executors_base_port: int = 8083
    notifier_port: int = 8090

    # The change calendar (freeze windows): the orchestrator holds/escalates with it, the
    # gateway refuses a denied change with 422; None: no freezes
    change_calendar: Path | None = Field(
        None, description="The change calendar policy (e.g. policies/change-calendar.yaml)"
    )

    @field_validator("change_calendar", mode="before")
    @classmethod
    def _no_calendar(cls, value: object) -> object:
        return None if value == "" else value  # PAO_CHANGE_CALENDAR= : no calendar

    # Notifications (services/notifier): the policy document, the SMTP relay, retries
    notifications_policy: Path | None = Field(
        None, description="The notification policy (e.g. catalog/_policies/notifications.yaml)"
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    notify_attempts: int = Field(5, ge=1, description="Tries per notification before failed")
    notify_backoff_s: float = Field(2.0, gt=0, description="First retry delay, doubling")
    notify_timeout_s: float = Field(10.0, gt=0, description="Per SMTP / webhook attempt")
    notify_webhook_sandbox_url: str | None = Field(
        None,
        description="Post every chat webhook to {this}/{hook name} instead of its own URL"
        " (pao dev: the sandbox's sink, http://127.0.0.1:8099/notify/webhooks); empty: none",
    )

    @field_validator("notify_webhook_sandbox_url", mode="before")
    @classmethod
    def _no_webhook_sandbox(cls, value: object) -> object:
        return None if value == "" else value

    log_level: str = "INFO"
    log_json: bool = True

    # Identity: bearer JWTs from a JWKS URL or a static public key (PEM file), verified by
    # the gateway (HTTP callers) and the orchestrator (Kafka commands) alike, so both need
    # these. With neither configured, the local and test profiles trust the development
    # key under ``jwt_dev_key_dir`` (``pao token`` signs with it).
    jwt_issuer: str = Field("pao-dev", description="Expected `iss` claim")
    jwt_audience: str = Field("pao", description="Expected `aud` claim")
    jwt_jwks_url: str = Field("", description="JWKS endpoint of the identity provider")
    jwt_public_key_file: Path | None = Field(None, description="PEM public key of the issuer")
    jwt_algorithms: str = Field("RS256", description="Accepted signing algorithms, comma-separated")
    jwt_leeway_s: int = Field(30, description="Clock skew tolerated on exp / nbf / iat")
    jwt_jwks_cache_s: int = Field(300, description="How long fetched JWKS keys are trusted")
    jwt_dev_key_dir: Path = Field(Path(".pao/dev-jwt"), description="Development signing key")
    jwt_claim_id: str = "sub"
    jwt_claim_email: str = "email"
    jwt_claim_name: str = "name"
    jwt_claim_teams: str = Field("teams", description="Claim (dotted path) listing the teams")
    jwt_claim_roles: str = Field("roles", description="Claim (dotted path) listing the roles")
    jwt_claim_manager: str = Field(
        "manager", description="Claim (dotted path) with the user id of the user's manager"
    )

    # Commands a service publishes for its users carry its signature (issue #10,
    # ``pao_common.service_tokens``): the gateway signs with its private key; the
    # orchestrator accepts such signatures only from the services named here. With neither
    # configured, the local and test profiles use the development service key under
    # ``service_dev_key_dir`` (never production).
    service_identity: str = Field(
        "pao-gateway", description="The name (`iss`) this service signs commands as"
    )
    service_signing_key_file: Path | None = Field(
        None, description="PEM private key the gateway signs commands with (from a Secret)"
    )
    service_token_ttl_s: int = Field(
        7 * 86_400,
        description="How long a signed command stays valid: longer than any outage it may"
        " wait out on the broker (a replay is harmless: commands are deduplicated by id)",
    )
    service_trusted_keys: str = Field(
        "",
        description="Services the orchestrator lets act for users: `name=PEM public key"
        " file`, comma-separated (a name twice while its key is rotated)",
    )
    service_dev_key_dir: Path = Field(
        Path(".pao/dev-service"), description="Development service signing key"
    )

    # Gateway behaviour
    gateway_redis_timeout_s: float = Field(0.25, description="Budget of one Redis call")
    gateway_redis_cooldown_s: float = Field(5.0, description="Skip Redis this long after a failure")
    gateway_catalog_cache_ttl_s: int = 300
    gateway_catalog_timeout_s: float = 5.0
    gateway_idempotency_ttl_s: int = 86_400
    gateway_instance_id: str = Field("", description="Names this replica's consumer groups")
    gateway_sse_poll_s: float = Field(2.0, description="SSE re-reads the store this often")
    gateway_relay_interval_s: float = Field(2.0, description="Re-publish unsent submissions")
    gateway_republish_window_s: float = Field(
        900.0, description="After a broker data loss, re-publish unprojected submissions this young"
    )
    gateway_resource_claim_stale_s: float = Field(
        900.0,
        description="A resource's operation claim whose request the orchestrator never"
        " recorded may be taken over after this long",
    )
    gateway_resource_claim_sweep_s: float = Field(
        30.0, description="Release the claims of ended requests this often"
    )

    # Gateway limits (README "Limits"): what one caller may send and hold; 0 switches one off.
    gateway_max_body_bytes: int = Field(
        1_048_576, description="Largest request body accepted; larger ones get 413"
    )
    gateway_webhook_max_body_bytes: int = Field(
        10_485_760,
        description="Largest body under /api/v1/webhooks/ (JIRA sends the whole issue)",
    )
    gateway_submit_rate_per_min: float = Field(
        60.0, description="Submissions per user per minute, sustained; faster ones get 429"
    )
    gateway_submit_burst: int = Field(
        30, description="Submissions a user may make at once before the rate applies"
    )
    gateway_submit_limit_exempt_roles: str = Field(
        "", description="Roles not rate limited, comma-separated (none: admins are limited too)"
    )
    gateway_sse_streams_per_user: int = Field(
        10, description="Live streams one user may hold open on one replica; more get 429"
    )

    # Deduplication records (the orchestrator's processed message ids, the executors'
    # answered commands): kept at least as long as the broker keeps the messages they
    # recognise (Kafka's default retention is 7 days), then pruned every hour.
    dedup_retention_s: float = Field(
        14 * 86_400, description="How long message ids and command answers are remembered"
    )
    dedup_prune_interval_s: float = 3_600.0
    metrics_refresh_s: float = Field(
        15.0, gt=0, description="How often gauges read from the database are refreshed"
    )

    @property
    def fetch_max_wait_ms(self) -> int:
        if self.kafka_fetch_max_wait_ms is not None:
            return self.kafka_fetch_max_wait_ms
        return _FETCH_MAX_WAIT_MS[self.profile]

    @property
    def idle_fetch_max_wait_ms(self) -> int:
        """The fetch wait an idle consumer lengthens to (``fetch_max_wait_ms``: never)."""
        idle = self.kafka_idle_fetch_max_wait_ms
        if idle is None:
            idle = _IDLE_FETCH_MAX_WAIT_MS[self.profile]
        return max(self.fetch_max_wait_ms, idle or 0)

    @property
    def session_timeout_ms(self) -> int:
        return self.kafka_session_timeout_ms or _SESSION_TIMEOUT_MS[self.profile]

    @property
    def redis_enabled(self) -> bool:
        return bool(self.redis_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

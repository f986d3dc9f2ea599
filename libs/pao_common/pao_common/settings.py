"""Settings for every PAO process, in one place.

Every value comes from a ``PAO_``-prefixed environment variable (or ``.env``).
The *profile* picks defaults that differ between a laptop and production: the
bundled dev broker answers a fetch only when ``fetch_max_wait_ms`` expires, so
the ``local`` and ``test`` profiles keep it small, while ``production`` keeps
Apache Kafka's own default.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Profile(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PRODUCTION = "production"


_FETCH_MAX_WAIT_MS = {Profile.LOCAL: 5, Profile.TEST: 5, Profile.PRODUCTION: 500}


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
    kafka_client_id: str = "pao"
    topic_partitions: int = 3
    topic_suffix: str = Field("", description="Appended to every topic name (tests, tenants)")

    # PostgreSQL and Redis
    database_url: str = "postgresql://postgres@127.0.0.1:5432/pao"
    database_pool_max: int = 10
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Empty: run without Redis")
    redis_prefix: str = "pao:"

    # Catalog
    catalog_dir: Path = Path("catalog")
    catalog_url: str = "http://127.0.0.1:8081"

    # Ports of the local platform (``pao dev``)
    gateway_port: int = 8080
    catalog_port: int = 8081
    orchestrator_port: int = 8082
    executors_base_port: int = 8083

    log_level: str = "INFO"
    log_json: bool = True

    @property
    def fetch_max_wait_ms(self) -> int:
        if self.kafka_fetch_max_wait_ms is not None:
            return self.kafka_fetch_max_wait_ms
        return _FETCH_MAX_WAIT_MS[self.profile]

    @property
    def redis_enabled(self) -> bool:
        return bool(self.redis_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""Settings of the patrol service (shared Kafka/MongoDB/auth settings plus its own)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import Settings


class PatrolSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="HULIN_", extra="ignore")

    service: str = "patrol"
    host: str = "127.0.0.1"
    port: int = 8001

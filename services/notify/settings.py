"""Settings of the notify service (shared Kafka/MongoDB/auth settings plus its own)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import Settings


class NotifySettings(Settings):
    model_config = SettingsConfigDict(env_prefix="HULIN_", extra="ignore")

    service: str = "notify"
    host: str = "127.0.0.1"
    port: int = 8003

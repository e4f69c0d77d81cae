"""Settings of the incidents service (shared Kafka/MongoDB/auth settings plus its own)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import Settings


class IncidentsSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="HULIN_", extra="ignore")

    service: str = "incidents"
    port: int = 8002

    # Hash-sharded incident collections: FerretDB v1 scans a whole collection even for an _id
    # lookup, so smaller collections keep each read and write short. 1 is right on MongoDB.
    incident_shards: int = Field(default=32, ge=1, le=256)
    # The escalation engine: how often it looks for due timers (in memory), how many incidents
    # it handles at once, and how often it reloads every timer from the database (timers set by
    # another replica, or left by a replica that died; its own changes are in memory at once).
    # The reload goes one shard at a time, spread over the period.
    escalation_poll_s: float = Field(default=0.2, gt=0, le=0.5)
    escalation_batch: int = Field(default=200, ge=1)
    escalation_concurrency: int = Field(default=16, ge=1)
    timer_rescan_s: float = Field(default=60.0, gt=0)
    # An escalation that failed (the store away) is tried again this much later.
    escalation_retry_s: float = Field(default=1.0, gt=0)
    # Reports of one consumer batch that cannot merge with each other are handled at once, at
    # most this many groups at a time (per process).
    report_concurrency: int = Field(default=16, ge=1)
    # Reports the consumer takes from the broker per fetch (one batch per partition).
    report_fetch_max: int = Field(default=200, ge=1)
    # The outbox relay: a claimed change not published after `relay_grace_s` (its writer died)
    # is replayed and published; published changes are deleted after `change_retention_s`.
    relay_interval_s: float = Field(default=2.0, gt=0)
    relay_grace_s: float = Field(default=15.0, gt=0)
    change_retention_s: float = Field(default=60.0, gt=0)
    # Changes the relay takes from the outbox per run (the oldest first).
    relay_batch: int = Field(default=500, ge=1)
    # Ranger positions older than this do not count as "on patrol" for the nearest ranger.
    position_max_age_s: float = Field(default=3600.0, gt=0)
    max_hotspot_bytes: int = Field(default=5_000_000, gt=0)

"""Settings of the patrol service (shared Kafka/MongoDB/auth settings plus its own)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import Settings


class PatrolSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="HULIN_", extra="ignore")

    service: str = "patrol"
    host: str = "127.0.0.1"
    port: int = 8001

    # Patrol days are local calendar days; China has one zone and no DST (UTC+8).
    patrol_utc_offset_h: float = Field(default=8.0, ge=-14, le=14)
    # How often the overdue scan runs, and how long a replica's claim on a patrol lasts before
    # another replica may retry a publish that failed.
    patrol_overdue_scan_s: float = Field(default=30.0, gt=0)
    patrol_overdue_lease_s: float = Field(default=60.0, gt=0)
    # How long the points endpoint may reuse what it read about a patrol (owner, start, finish,
    # stored seqs). 0 reads the database on every batch.
    patrol_ingest_cache_s: float = Field(default=2.0, ge=0)
    # False runs an ingest-only replica (HTTP + publish), leaving storage to worker replicas.
    patrol_consumers: bool = True

"""Settings of the patrol service (shared Kafka/MongoDB/auth settings plus its own)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import Settings


class PatrolSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="HULIN_", extra="ignore")

    service: str = "patrol"
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
    # The longest period one compliance query covers (a year, leap or not).
    patrol_compliance_max_days: int = Field(default=366, gt=0)
    # The two roles of a patrol process; the default runs both (one process, as `make up` did and
    # the tests do). Production splits them (deploy/k8s): `hulin-patrol` serves the API with
    # patrol_consumers=false (validate, publish, answer 202: scales with HTTP load), and
    # `hulin-patrol-worker` runs with patrol_api=false (the points consumer and the overdue scan:
    # scales with the partitions of hulin.patrol.points). A worker still answers /healthz,
    # /readyz and /metrics.
    patrol_consumers: bool = True
    patrol_api: bool = True

    @model_validator(mode="after")
    def _has_a_role(self) -> Self:
        if not (self.patrol_consumers or self.patrol_api):
            raise ValueError("HULIN_PATROL_API and HULIN_PATROL_CONSUMERS are both false: no role")
        return self

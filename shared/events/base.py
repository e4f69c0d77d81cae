"""The event envelope every Hulin message carries on Kafka, and the helpers to build one.

An event is immutable once built; a consumer ignores fields it does not know. Never put a service's
rules here: only the shape of what crosses the wire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.clock import utcnow
from shared.logging import current_correlation_id


class EventData(BaseModel):
    """Base of every event's `data`: frozen; unknown fields ignored (old consumers keep working)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(BaseModel):
    """Envelope: id, type, version, occurred_at, producer, key, correlation_id, data."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str] = ""  # logical topic (without the deployment's prefix)
    id: UUID = Field(default_factory=uuid4)
    type: str
    version: int = 1
    occurred_at: AwareDatetime
    producer: str
    key: str
    correlation_id: str
    data: EventData

    @classmethod
    def new(
        cls,
        data: Any,
        *,
        key: str,
        producer: str,
        occurred_at: datetime | None = None,
        correlation_id: str | None = None,
        event_id: UUID | None = None,
    ) -> Self:
        """Build an event, taking the correlation id of the request or event being handled."""
        fields: dict[str, Any] = {
            "data": data,
            "key": key,
            "producer": producer,
            "occurred_at": occurred_at or utcnow(),
            "correlation_id": correlation_id or current_correlation_id(),
        }
        if event_id is not None:
            fields["id"] = event_id
        return cls(**fields)

    def to_json(self) -> bytes:
        import orjson

        return orjson.dumps(self.model_dump(mode="json"))

"""What the notify API answers, as pydantic models: the `response_model` of each route, so
`/openapi.json` tells clients what comes back. Shapes only; the views fill them (presenters.py,
routes.py). Extra fields are kept, so a field added to a view is never dropped by its model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class AlertOut(Out):
    id: str = Field(description="the alert's number in its district, as a string (SSE id)")
    seq: int
    event_id: str
    event_type: str
    incident_id: str | None
    patrol_id: str | None
    kind: str
    alarm: bool = Field(description="a new alarm rather than news of a known incident")
    level: int
    type: str
    severity: str
    status: str
    village: str
    village_name: str | None
    township: str | None
    township_name: str | None
    lat: float | None
    lon: float | None
    reports: int | None
    title: str
    message: str
    at: str | None


class AlertsOut(Out):
    alerts: list[AlertOut]
    last_id: str = Field(description="the highest alert id listed (Last-Event-ID for the stream)")


class NotificationOut(Out):
    id: str
    incident_id: str | None
    patrol_id: str | None
    recipient_id: str
    kind: str
    level: int
    reason: str | None
    type: str | None
    severity: str | None
    status: str | None
    village: str | None
    township: str | None
    title: str
    message: str
    reports: int
    updates: list[dict[str, Any]]
    created_at: str | None
    updated_at: str | None
    read: bool
    read_at: str | None
    acknowledged: bool
    acknowledged_at: str | None
    acknowledged_by: str | None


class InboxOut(Out):
    notifications: list[NotificationOut]
    items: list[NotificationOut] = Field(description="the same page (the lists' common name)")
    next: str | None = Field(description="cursor of the next page; null on the last")
    count: int = Field(description="the page's length")


class WebhookOut(Out):
    id: str
    url: str
    types: list[str] | None
    incident_types: list[str] | None
    min_level: int
    unit: str
    active: bool
    created_by: str | None
    created_at: str


class WebhooksOut(Out):
    webhooks: list[WebhookOut]


class SecretOut(Out):
    id: str
    secret: str | None = Field(
        description="the minted secret, shown this once; null when the caller gave it"
    )


class TryOut(Out):
    attempt: int
    at: str | None
    status_code: int | None
    ok: bool
    error: str | None
    duration_ms: float | None


class DeliveryOut(Out):
    id: str = Field(description="the X-Hulin-Delivery id, the same on every try")
    event_id: str
    event_type: str
    incident_id: str | None
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: str | None
    next_try_at: str | None
    delivered_at: str | None
    dead_at: str | None
    last_error: str | None
    tries: list[TryOut]


class DeliveriesOut(Out):
    deliveries: list[DeliveryOut]
    items: list[DeliveryOut]
    next: str | None
    count: int


class UnitProperties(Out):
    code: str
    name: str
    name_en: str | None
    level: str
    parent: str | None
    label_point: list[float] = Field(description="[lon, lat] of a point inside the unit")


class UnitFeature(Out):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any]
    properties: UnitProperties


class UnitsOut(Out):
    type: Literal["FeatureCollection"]
    features: list[UnitFeature]


class ConsoleConfigOut(Out):
    incidents_base_url: str
    dev_tokens: bool
    district: str


class DevPersonOut(Out):
    id: str
    name: str
    role: str
    unit: str
    unit_name: str


class DevPeopleOut(Out):
    people: list[DevPersonOut]


class DevTokenOut(Out):
    token: str
    person: str
    role: str

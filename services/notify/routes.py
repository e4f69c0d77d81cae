"""HTTP routes of the notify service: parse, authorize, call one use case, shape the answer. The
live stream, inboxes, webhook subscriptions, the org map and the console page. No business rules
and no store here: who hears what is decided in domain/, what is stored in usecases/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.notify import schemas
from services.notify.channels.sse import AlertHub
from services.notify.domain import webhooks
from services.notify.domain.alerts import Alert
from services.notify.domain.deliveries import DeliveryState
from services.notify.domain.messages import Catalog, pick_language
from services.notify.presenters import alert_view, notification_view
from services.notify.settings import NotifySettings
from services.notify.store import NotifyStore, Webhook
from services.notify.usecases import alerts as alert_cases
from services.notify.usecases import inbox as inbox_cases
from services.notify.usecases import subscriptions as subscription_cases
from shared.auth import CurrentPerson, StreamPerson, issue_token, token_expiry
from shared.clock import Clock
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.org import OrgDirectory, Role
from shared.settings import DEV_JWT_SECRET

router = APIRouter(prefix="/v1", tags=["notify"])
console_router = APIRouter(tags=["console"])

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {"console.js": "text/javascript", "console.css": "text/css"}
STREAM_ROLES_EXCLUDED = (Role.PUBLIC,)


# ---- dependencies ---------------------------------------------------------------------------
def _store(request: Request) -> NotifyStore:
    store: NotifyStore = request.app.state.store
    return store


def _settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.settings
    return settings


def _org(request: Request) -> OrgDirectory:
    org: OrgDirectory = request.app.state.org
    return org


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


Store = Annotated[NotifyStore, Depends(_store)]
Org = Annotated[OrgDirectory, Depends(_org)]
Settings = Annotated[NotifySettings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]


def _lang(request: Request, lang: str | None) -> str:
    catalog: Catalog = request.app.state.catalog
    return pick_language(lang, request.headers.get("accept-language"), set(catalog.languages))


def _views(request: Request) -> tuple[Catalog, float]:
    return request.app.state.catalog, _settings(request).display_utc_offset_h


LangQuery = Annotated[
    str | None, Query(description="zh (default) or en; else Accept-Language decides")
]


# ---- live alerts ----------------------------------------------------------------------------
@router.get(
    "/alerts/stream",
    summary="Server-Sent Events of alerts in the caller's scope (resumable with Last-Event-ID)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`id: <alert id>` and `data: <alert as in GET /v1/alerts>` per alert",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def alert_stream(
    request: Request,
    person: StreamPerson,
    clock: ClockDep,
    store: Store,
    org: Org,
    settings: Settings,
    lang: LangQuery = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id_query: Annotated[
        str | None, Query(alias="last_event_id", description="for a first connection")
    ] = None,
) -> StreamingResponse:
    if person.role in STREAM_ROLES_EXCLUDED:
        raise Forbidden(
            "the alert stream is for the chain, the command center and HQ", field="role"
        )
    raw_last = last_event_id or last_event_id_query
    after: int | None = None
    if raw_last:
        try:
            after = int(raw_last)
        except ValueError:
            raise InvalidInput(
                "Last-Event-ID must be an alert id (an integer)", field="Last-Event-ID"
            ) from None
    hub: AlertHub = request.app.state.hub
    catalog, offset = _views(request)
    language = _lang(request, lang)
    watch = await alert_cases.watch(
        alerts=store.alerts,
        hub=hub,
        org=org,
        person=person,
        after=after,
        limit=settings.stream_catchup_limit,
        max_streams=request.app.state.policy.limits.streams_per_person,
    )
    subscriber = watch.subscriber
    # the stream ends when the token it was opened with expires: the page signs in again
    expires_at = token_expiry(request)

    def frame(alert: Alert) -> bytes:
        view = alert_view(alert, catalog, language, utc_offset_h=offset)
        return b"id: " + str(alert.seq).encode() + b"\ndata: " + orjson.dumps(view) + b"\n\n"

    async def events() -> AsyncIterator[bytes]:
        try:
            yield f"retry: {settings.stream_retry_ms}\n: connected\n\n".encode()
            sent: set[int] = set()
            for alert in watch.backlog:
                sent.add(alert.seq)
                yield frame(alert)
            while not subscriber.dropped.is_set():
                wait = settings.stream_keepalive_s
                if expires_at is not None:
                    left = expires_at - clock.now().timestamp()
                    if left <= 0:
                        yield b"event: token_expired\ndata: {}\n\n"
                        return
                    wait = min(wait, left)
                try:
                    alert = await asyncio.wait_for(subscriber.queue.get(), wait)
                except TimeoutError:
                    if expires_at is None or expires_at > clock.now().timestamp():
                        yield b": keep-alive\n\n"
                    continue
                if alert.seq in sent:
                    continue
                yield frame(alert)
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/alerts",
    summary="The latest stored alerts in the caller's scope, newest first",
    response_model=schemas.AlertsOut,
)
async def recent_alerts(
    request: Request,
    person: CurrentPerson,
    store: Store,
    org: Org,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    lang: LangQuery = None,
) -> dict[str, Any]:
    if person.role in STREAM_ROLES_EXCLUDED:
        raise Forbidden("alerts are for the chain, the command center and HQ", field="role")
    found = await alert_cases.latest(alerts=store.alerts, org=org, person=person, limit=limit)
    catalog, offset = _views(request)
    language = _lang(request, lang)
    return {
        "alerts": [alert_view(a, catalog, language, utc_offset_h=offset) for a in found],
        "last_id": str(max((a.seq for a in found), default=0)),
    }


# ---- inbox ----------------------------------------------------------------------------------
@router.get(
    "/inbox", summary="The caller's notifications, newest first", response_model=schemas.InboxOut
)
async def inbox(
    request: Request,
    person: CurrentPerson,
    store: Store,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    lang: LangQuery = None,
) -> dict[str, Any]:
    """A page, newest first; `next` is the cursor of the following page (None on the last).
    A notification stored while one reads on never shifts the pages already handed out."""
    page = await inbox_cases.page(
        inbox=store.inbox, person=person, unread=unread, limit=limit, cursor=cursor
    )
    catalog, offset = _views(request)
    language = _lang(request, lang)
    items = [
        notification_view(n, catalog, language, utc_offset_h=offset) for n in page.notifications
    ]
    return {"notifications": items, "items": items, "next": page.next, "count": len(items)}


@router.post(
    "/inbox/{notification_id}/read",
    summary="Mark one of one's own notifications read",
    response_model=schemas.NotificationOut,
)
async def mark_read(
    request: Request,
    person: CurrentPerson,
    store: Store,
    clock: ClockDep,
    notification_id: str,
    lang: LangQuery = None,
) -> dict[str, Any]:
    read = await inbox_cases.mark_read(
        inbox=store.inbox, person=person, notification_id=notification_id, clock=clock
    )
    catalog, offset = _views(request)
    return notification_view(read, catalog, _lang(request, lang), utc_offset_h=offset)


# ---- webhooks -------------------------------------------------------------------------------
class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http(s) URL receiving signed JSON POSTs")
    secret: SecretStr = Field(description="HMAC-SHA256 key; never returned")
    types: list[str] | None = Field(
        default=None,
        description=f"event types; default all: {list(webhooks.WEBHOOK_EVENT_TYPES)}",
    )
    incident_types: list[str] | None = Field(default=None, description="e.g. ['fire', 'smoke']")
    min_level: int = Field(default=0, ge=0, le=webhooks.MAX_LEVEL)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return webhooks.check_url(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("secret must not be empty")
        return value


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool = Field(description="false: no new deliveries until enabled again")


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = Field(
        default=None, description="the new HMAC key; omitted: the server mints one"
    )

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("secret must not be empty")
        return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _webhook_view(webhook: Webhook) -> dict[str, Any]:
    """Never includes the secret."""
    rule = webhook.rule
    return {
        "id": rule.id,
        "url": rule.url,
        "types": list(rule.types) if rule.types is not None else None,
        "incident_types": list(rule.incident_types) if rule.incident_types is not None else None,
        "min_level": rule.min_level,
        "unit": rule.unit,
        "active": webhook.active,
        "created_by": webhook.created_by,
        "created_at": webhook.created_at.isoformat(),
    }


def _delivery_view(state: DeliveryState) -> dict[str, Any]:
    d = state.delivery
    return {
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "incident_id": d.subject_id,
        "status": state.status,
        "attempts": state.attempts,
        "created_at": _iso(d.created_at),
        "next_try_at": _iso(state.next_try_at),
        "delivered_at": _iso(state.delivered_at),
        "dead_at": _iso(state.dead_at),
        "last_error": state.last_error,
        "tries": [
            {
                "attempt": t.attempt,
                "at": _iso(t.at),
                "status_code": t.status_code,
                "ok": t.ok,
                "error": t.error,
                "duration_ms": t.duration_ms,
            }
            for t in state.tries
        ],
    }


@router.post(
    "/webhooks",
    status_code=201,
    summary="Subscribe an HQ endpoint (hq, admin)",
    response_model=schemas.WebhookOut,
)
async def create_webhook(
    person: CurrentPerson, store: Store, clock: ClockDep, settings: Settings, body: WebhookIn
) -> dict[str, Any]:
    webhook = await subscription_cases.subscribe(
        subscriptions=store.subscriptions,
        destinations=settings.webhook_destinations(),
        person=person,
        url=body.url,
        secret=body.secret.get_secret_value(),
        types=body.types,
        incident_types=body.incident_types,
        min_level=body.min_level,
        clock=clock,
    )
    return _webhook_view(webhook)


@router.get(
    "/webhooks",
    summary="Webhook subscriptions in the caller's scope (hq, admin)",
    response_model=schemas.WebhooksOut,
)
async def list_webhooks(person: CurrentPerson, store: Store, org: Org) -> dict[str, Any]:
    found = await subscription_cases.in_scope(
        subscriptions=store.subscriptions, org=org, person=person
    )
    return {"webhooks": [_webhook_view(w) for w in found]}


@router.get(
    "/webhooks/{webhook_id}",
    summary="One subscription (without its secret)",
    response_model=schemas.WebhookOut,
)
async def get_webhook(
    person: CurrentPerson, store: Store, org: Org, webhook_id: str
) -> dict[str, Any]:
    webhook = await subscription_cases.own(
        subscriptions=store.subscriptions, org=org, person=person, webhook_id=webhook_id
    )
    return _webhook_view(webhook)


@router.patch(
    "/webhooks/{webhook_id}",
    summary="Disable or enable a subscription (hq, admin)",
    response_model=schemas.WebhookOut,
)
async def patch_webhook(
    person: CurrentPerson, store: Store, org: Org, webhook_id: str, body: WebhookPatch
) -> dict[str, Any]:
    webhook = await subscription_cases.set_active(
        subscriptions=store.subscriptions,
        org=org,
        person=person,
        webhook_id=webhook_id,
        active=body.active,
    )
    return _webhook_view(webhook)


@router.post(
    "/webhooks/{webhook_id}/secret",
    summary="Rotate a subscription's secret (hq, admin); a minted one is shown once",
    response_model=schemas.SecretOut,
)
async def rotate_webhook_secret(
    person: CurrentPerson,
    store: Store,
    org: Org,
    webhook_id: str,
    body: SecretIn | None = None,
) -> dict[str, Any]:
    given = body.secret.get_secret_value() if body is not None and body.secret else None
    new = await subscription_cases.rotate_secret(
        subscriptions=store.subscriptions,
        org=org,
        person=person,
        webhook_id=webhook_id,
        secret=given,
    )
    return {"id": webhook_id, "secret": None if given is not None else new}


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    summary="Delete a subscription (hq, admin)",
)
async def delete_webhook(person: CurrentPerson, store: Store, org: Org, webhook_id: str) -> None:
    await subscription_cases.delete(
        subscriptions=store.subscriptions, org=org, person=person, webhook_id=webhook_id
    )


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="Every delivery and every try",
    response_model=schemas.DeliveriesOut,
)
async def webhook_deliveries(
    person: CurrentPerson,
    store: Store,
    org: Org,
    webhook_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    page = await subscription_cases.delivery_log(
        subscriptions=store.subscriptions,
        deliveries=store.deliveries,
        org=org,
        person=person,
        webhook_id=webhook_id,
        limit=limit,
        cursor=cursor,
    )
    items = [_delivery_view(d) for d in page.deliveries]
    return {"deliveries": items, "items": items, "next": page.next, "count": len(items)}


# ---- the org map --------------------------------------------------------------------------
@router.get(
    "/org/units",
    summary="Units in the caller's scope as GeoJSON (for the console map)",
    response_model=schemas.UnitsOut,
)
async def org_units(request: Request, person: CurrentPerson) -> dict[str, Any]:
    if person.role == Role.PUBLIC:
        raise Forbidden("the org map is for the chain, the command center and HQ", field="role")
    org = _org(request)
    features = []
    for unit in org.descendants(person.unit):
        lat, lon = unit.point
        features.append(
            {
                "type": "Feature",
                "id": unit.code,
                "geometry": unit.boundary_geojson(),
                "properties": {
                    "code": unit.code,
                    "name": unit.name,
                    "name_en": unit.name_en,
                    "level": unit.level.value,
                    "parent": unit.parent,
                    "label_point": [lon, lat],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


# ---- the console ----------------------------------------------------------------------------
def _dev_tokens_allowed(settings: NotifySettings) -> bool:
    """Demo tokens only in dev and only with the public dev secret: a token minted here gives no
    one anything they could not forge from the published default already."""
    return (
        settings.env == "dev"
        and settings.jwt_algorithm == "HS256"
        and settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET
    )


@console_router.get("/console", response_class=HTMLResponse, summary="The command-center page")
async def console_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "console.html", media_type="text/html; charset=utf-8")


@console_router.get("/console/static/{name}", include_in_schema=False)
async def console_static(name: str) -> FileResponse:
    media = STATIC_FILES.get(name)
    if media is None:
        raise NotFound("no such file")
    return FileResponse(STATIC_DIR / name, media_type=f"{media}; charset=utf-8")


@console_router.get(
    "/console/config",
    summary="What the console page needs to know",
    response_model=schemas.ConsoleConfigOut,
)
async def console_config(request: Request) -> dict[str, Any]:
    settings = _settings(request)
    return {
        "incidents_base_url": settings.incidents_base_url.rstrip("/"),
        "dev_tokens": _dev_tokens_allowed(settings),
        "district": _org(request).district.code,
    }


DEMO_ROLES = (
    Role.COMMAND_CENTER,
    Role.HQ,
    Role.DISTRICT_CHIEF,
    Role.TOWNSHIP_CHIEF,
    Role.VILLAGE_CHIEF,
    Role.ADMIN,
)


@console_router.get(
    "/console/dev-people",
    summary="Demo people to log in as (env=dev only)",
    response_model=schemas.DevPeopleOut,
)
async def dev_people(request: Request) -> dict[str, Any]:
    if not _dev_tokens_allowed(_settings(request)):
        raise NotFound("not available outside dev")
    org = _org(request)
    people = [p for p in org.people.values() if p.role in DEMO_ROLES]
    people.sort(key=lambda p: (DEMO_ROLES.index(p.role), p.id))
    return {
        "people": [
            {
                "id": p.id,
                "name": p.name,
                "role": p.role.value,
                "unit": p.unit,
                "unit_name": org.unit(p.unit).name,
            }
            for p in people
        ]
    }


@console_router.get(
    "/console/dev-token",
    summary="A token for a demo person (env=dev only)",
    response_model=schemas.DevTokenOut,
)
async def dev_token(request: Request, person: str) -> dict[str, Any]:
    settings = _settings(request)
    if not _dev_tokens_allowed(settings):
        raise NotFound("not available outside dev")
    who = _org(request).person(person)
    if who is None:
        raise NotFound("no such person in the org directory", field="person")
    return {"token": issue_token(who.id, settings), "person": who.id, "role": who.role.value}

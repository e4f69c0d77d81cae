"""HTTP routes of the notify service: parse, authorize, call the repository or a handler, shape the
answer. The live stream, inboxes, webhook subscriptions, the org map and the console page.
No business rules here: who hears what is decided in domain/."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.notify.channels.sse import AlertHub
from services.notify.domain import webhooks
from services.notify.domain.messages import Catalog, pick_language
from services.notify.presenters import alert_view, notification_view
from services.notify.repository import NotifyRepository
from services.notify.settings import NotifySettings
from shared.auth import CurrentPerson, issue_token
from shared.clock import Clock
from shared.cursors import BadCursor
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.events import REPORT_TYPES
from shared.org import OrgDirectory, Person, Role
from shared.settings import DEV_JWT_SECRET

router = APIRouter(prefix="/v1", tags=["notify"])
console_router = APIRouter(tags=["console"])

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {"console.js": "text/javascript", "console.css": "text/css"}
WEBHOOK_ROLES = (Role.HQ, Role.ADMIN)
STREAM_ROLES_EXCLUDED = (Role.PUBLIC,)


# ---- dependencies ---------------------------------------------------------------------------
def _repo(request: Request) -> NotifyRepository:
    repo: NotifyRepository = request.app.state.repo
    return repo


def _settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.settings
    return settings


def _org(request: Request) -> OrgDirectory:
    org: OrgDirectory = request.app.state.org
    return org


def _lang(request: Request, lang: str | None) -> str:
    catalog: Catalog = request.app.state.catalog
    return pick_language(lang, request.headers.get("accept-language"), set(catalog.languages))


def _views(request: Request) -> tuple[Catalog, float]:
    return request.app.state.catalog, _settings(request).display_utc_offset_h


def _district_of(org: OrgDirectory, person: Person) -> str:
    try:
        return org.ancestors(person.unit)[-1].code
    except KeyError:
        raise NotFound("unit not found") from None


LangQuery = Annotated[
    str | None, Query(description="zh (default) or en; else Accept-Language decides")
]


# ---- live alerts ----------------------------------------------------------------------------
@router.get(
    "/alerts/stream",
    summary="Server-Sent Events of alerts in the caller's scope (resumable with Last-Event-ID)",
    response_class=StreamingResponse,
)
async def alert_stream(
    request: Request,
    person: CurrentPerson,
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
    settings = _settings(request)
    org = _org(request)
    repo = _repo(request)
    hub: AlertHub = request.app.state.hub
    catalog, offset = _views(request)
    language = _lang(request, lang)
    district = _district_of(org, person)
    subscriber = await hub.subscribe(person.unit)

    def frame(doc: Mapping[str, Any]) -> bytes:
        view = alert_view(doc, catalog, language, utc_offset_h=offset)
        return b"id: " + str(doc["seq"]).encode() + b"\ndata: " + orjson.dumps(view) + b"\n\n"

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n: connected\n\n"
            sent: set[int] = set()
            if after is not None:
                backlog = await repo.alerts_after(
                    district, after, limit=settings.stream_catchup_limit, unit=person.unit
                )
                for doc in backlog:
                    sent.add(int(doc["seq"]))
                    yield frame(doc)
            while not subscriber.dropped.is_set():
                try:
                    doc = await asyncio.wait_for(
                        subscriber.queue.get(), settings.stream_keepalive_s
                    )
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                seq = int(doc["seq"])
                if seq in sent:
                    continue
                yield frame(doc)
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/alerts", summary="The latest stored alerts in the caller's scope, newest first")
async def recent_alerts(
    request: Request,
    person: CurrentPerson,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    lang: LangQuery = None,
) -> dict[str, Any]:
    if person.role in STREAM_ROLES_EXCLUDED:
        raise Forbidden("alerts are for the chain, the command center and HQ", field="role")
    org = _org(request)
    docs = await _repo(request).recent_alerts(_district_of(org, person), person.unit, limit=limit)
    catalog, offset = _views(request)
    language = _lang(request, lang)
    last = max((int(d["seq"]) for d in docs), default=0)
    return {
        "alerts": [alert_view(d, catalog, language, utc_offset_h=offset) for d in docs],
        "last_id": str(last),
    }


# ---- inbox ----------------------------------------------------------------------------------
@router.get("/inbox", summary="The caller's notifications, newest first")
async def inbox(
    request: Request,
    person: CurrentPerson,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    lang: LangQuery = None,
) -> dict[str, Any]:
    """A page, newest first; `next` is the cursor of the following page (None on the last).
    A notification stored while one reads on never shifts the pages already handed out."""
    try:
        page = await _repo(request).inbox(person.id, unread=unread, limit=limit, cursor=cursor)
    except BadCursor as exc:
        raise InvalidInput("cursor is not one this inbox gave you", field="cursor") from exc
    catalog, offset = _views(request)
    language = _lang(request, lang)
    items = [
        notification_view(d, catalog, language, utc_offset_h=offset) for d in page.notifications
    ]
    return {"notifications": items, "items": items, "next": page.next, "count": len(items)}


@router.post("/inbox/{notification_id}/read", summary="Mark one of one's own notifications read")
async def mark_read(
    request: Request, person: CurrentPerson, notification_id: str, lang: LangQuery = None
) -> dict[str, Any]:
    clock: Clock = request.app.state.clock
    doc = await _repo(request).mark_read(notification_id, person.id, clock.now())
    if doc is None:
        raise NotFound("notification not found in your inbox", field="notification_id")
    catalog, offset = _views(request)
    return notification_view(doc, catalog, _lang(request, lang), utc_offset_h=offset)


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


def _subscription_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Never includes the secret."""
    return {
        "id": doc["_id"],
        "url": doc["url"],
        "types": doc.get("types"),
        "incident_types": doc.get("incident_types"),
        "min_level": doc.get("min_level", 0),
        "unit": doc["unit"],
        "active": doc.get("active", True),
        "created_by": doc.get("created_by"),
        "created_at": doc["created_at"].isoformat(),
    }


@router.post("/webhooks", status_code=201, summary="Subscribe an HQ endpoint (hq, admin)")
async def create_webhook(
    request: Request, person: CurrentPerson, body: WebhookIn
) -> dict[str, Any]:
    if person.role not in WEBHOOK_ROLES:
        raise Forbidden(
            f"webhook subscriptions are for hq, admin; you are {person.role.value}", field="role"
        )
    types = webhooks.check_types(body.types)
    incident_types = webhooks.check_incident_types(body.incident_types, REPORT_TYPES)
    clock: Clock = request.app.state.clock
    doc = {
        "_id": str(uuid.uuid4()),
        "url": body.url,
        "secret": body.secret.get_secret_value(),
        "types": list(types) if types is not None else None,
        "incident_types": list(incident_types) if incident_types is not None else None,
        "min_level": body.min_level,
        "unit": person.unit,
        "active": True,
        "created_by": person.id,
        "created_at": clock.now(),
    }
    await _repo(request).insert_subscription(doc)
    return _subscription_view(doc)


def _visible_units(org: OrgDirectory, person: Person) -> list[str]:
    return [u.code for u in org.descendants(person.unit)]


async def _own_subscription(request: Request, person: Person, sub_id: str) -> Mapping[str, Any]:
    if person.role not in WEBHOOK_ROLES:
        raise NotFound("webhook not found")
    doc = await _repo(request).subscription(sub_id)
    if doc is None or not _org(request).in_subtree(person.unit, doc["unit"]):
        raise NotFound("webhook not found", field="webhook_id")
    return doc


@router.get("/webhooks", summary="Webhook subscriptions in the caller's scope (hq, admin)")
async def list_webhooks(request: Request, person: CurrentPerson) -> dict[str, Any]:
    if person.role not in WEBHOOK_ROLES:
        raise Forbidden("webhook subscriptions are for hq, admin", field="role")
    docs = await _repo(request).subscriptions_in(_visible_units(_org(request), person))
    return {"webhooks": [_subscription_view(d) for d in docs]}


@router.get("/webhooks/{webhook_id}", summary="One subscription (without its secret)")
async def get_webhook(request: Request, person: CurrentPerson, webhook_id: str) -> dict[str, Any]:
    return _subscription_view(await _own_subscription(request, person, webhook_id))


@router.get("/webhooks/{webhook_id}/deliveries", summary="Every delivery and every try")
async def webhook_deliveries(
    request: Request,
    person: CurrentPerson,
    webhook_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    await _own_subscription(request, person, webhook_id)
    repo = _repo(request)
    try:
        docs, nxt = await repo.delivery_log(webhook_id, limit=limit, cursor=cursor)
    except BadCursor as exc:
        raise InvalidInput("cursor is not one this log gave you", field="cursor") from exc

    def iso(v: Any) -> Any:
        return v.isoformat() if hasattr(v, "isoformat") else v

    items = [
        {
            "id": d["_id"],
            "event_id": d["event_id"],
            "event_type": d["event_type"],
            "incident_id": d.get("subject_id"),
            "status": d["status"],
            "attempts": d["attempts"],
            "created_at": iso(d["created_at"]),
            "next_try_at": iso(d["next_try_at"]),
            "delivered_at": iso(d.get("delivered_at")),
            "dead_at": iso(d.get("dead_at")),
            "last_error": d.get("last_error"),
            "tries": [
                {
                    "attempt": t["attempt"],
                    "at": iso(t["at"]),
                    "status_code": t.get("status_code"),
                    "ok": t.get("ok", False),
                    "error": t.get("error"),
                    "duration_ms": t.get("duration_ms"),
                }
                for t in d["tries"]
            ],
        }
        for d in docs
    ]
    return {"deliveries": items, "items": items, "next": nxt, "count": len(items)}


# ---- the org map --------------------------------------------------------------------------
@router.get("/org/units", summary="Units in the caller's scope as GeoJSON (for the console map)")
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


@console_router.get("/console/config", summary="What the console page needs to know")
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


@console_router.get("/console/dev-people", summary="Demo people to log in as (env=dev only)")
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


@console_router.get("/console/dev-token", summary="A token for a demo person (env=dev only)")
async def dev_token(request: Request, person: str) -> dict[str, Any]:
    settings = _settings(request)
    if not _dev_tokens_allowed(settings):
        raise NotFound("not available outside dev")
    who = _org(request).person(person)
    if who is None:
        raise NotFound("no such person in the org directory", field="person")
    return {"token": issue_token(who.id, settings), "person": who.id, "role": who.role.value}

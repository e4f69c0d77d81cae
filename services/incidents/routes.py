"""HTTP routes of the incidents service: parse, authorize, call one use case, shape the answer.
No business rule lives here."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.incidents.domain.hotspots import parse_csv, parse_rows
from services.incidents.domain.incident import ReportFacts, Status
from services.incidents.domain.intake import check_free_form, check_report
from services.incidents.schemas import (
    HotspotsAccepted,
    IncidentList,
    IncidentOut,
    ReportOut,
)
from services.incidents.usecases import UseCases
from services.incidents.usecases.queries import public_view
from shared.auth import CurrentPerson, require_role
from shared.cursors import BadCursor
from shared.errors import InvalidInput
from shared.events.reports import ReportType
from shared.geo import gcj02_to_wgs84
from shared.org import Role

router = APIRouter(prefix="/v1", tags=["incidents"])

# what an app may report: every type but `hotspot`, which only satellite data opens
AppReportType = Literal[
    "fire",
    "smoke",
    "pest",
    "illegal_logging",
    "poaching",
    "illegal_digging",
    "land_occupation",
    "wildlife_damage",
    "sos",
    "other",
]


async def get_usecases(request: Request) -> UseCases:  # async: no thread-pool hop
    uc: UseCases = request.app.state.usecases
    return uc


Service = Annotated[UseCases, Depends(get_usecases)]


class ReportIn(BaseModel):
    """A report from the app (ranger, chief) or the public. Satellite hotspots use /v1/hotspots."""

    model_config = ConfigDict(extra="ignore")

    id: UUID  # made by the app: resending the same id changes nothing
    type: AppReportType
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    observed_at: AwareDatetime
    description: str | None = None
    photos: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    coord_system: Literal["wgs84", "gcj02"] = "wgs84"


class ReportAccepted(BaseModel):
    report_id: str


class AckIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class TransitionIn(BaseModel):
    to: str = Field(min_length=1, max_length=64)  # a status, or "pest_step:<step>"
    note: str | None = Field(default=None, max_length=2000)
    evidence: dict[str, Any] | None = None


class PestStepIn(BaseModel):
    step: str = Field(min_length=1, max_length=64)
    evidence: dict[str, Any] = Field(default_factory=dict)
    result: Literal["positive", "negative"] | None = None
    note: str | None = Field(default=None, max_length=2000)


@router.post("/reports", status_code=202, response_model=ReportAccepted)
async def submit_report(body: ReportIn, person: CurrentPerson, service: Service) -> Any:
    intake = service.intake
    intake.admit(person)
    now = intake.clock.now()
    check_report(
        observed_at=body.observed_at,
        description=body.description,
        photos=body.photos,
        details=body.details,
        now=now,
        policy=intake.policy,
    )
    lat, lon = body.lat, body.lon
    if body.coord_system == "gcj02":
        lat, lon = gcj02_to_wgs84(lat, lon)
    where = intake.place(lat, lon)
    report = ReportFacts(
        id=str(body.id),
        type=body.type,
        lat=lat,
        lon=lon,
        observed_at=body.observed_at,
        received_at=now,
        reporter_id=person.id,
        reporter_role=person.role.value,
        source="app",
        village=where.village,
        township=where.township,
        district=where.district,
        description=body.description,
        photos=tuple(body.photos),
        details=body.details,
    )
    return {"report_id": await intake.submit_report(report=report)}


@router.get("/reports/{report_id}", response_model=ReportOut)
async def get_report(report_id: str, person: CurrentPerson, service: Service) -> Any:
    return await service.intake.get_report(person=person, report_id=report_id)


@router.post("/hotspots", status_code=202, response_model=HotspotsAccepted)
async def ingest_hotspots(request: Request, person: CurrentPerson, service: Service) -> Any:
    """NASA FIRMS active-fire rows (MODIS or VIIRS), as CSV or as a JSON array of row objects
    (or `{"rows": [...]}`). Good rows are taken; bad ones are listed with their row number."""
    require_role(person, Role.ADMIN, Role.COMMAND_CENTER, Role.HQ, action="uploading hotspots")
    raw = await request.body()
    intake = service.intake
    now = intake.clock.now()
    future_s = intake.policy.patrol.future_tolerance_s
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"not JSON: {exc}", field="body") from exc
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise InvalidInput("a JSON array of FIRMS rows, or {rows: [...]}", field="body")
        parsed = parse_rows(rows, columns=None, now=now, future_s=future_s)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("CSV must be UTF-8 text", field="body") from exc
        parsed = parse_csv(text, now=now, future_s=future_s)
    return await intake.ingest_hotspots(parsed)


@router.get("/incidents", response_model=IncidentList)
async def list_incidents(
    person: CurrentPerson,
    service: Service,
    status: Status | None = None,
    type: ReportType | None = None,  # noqa: A002 - the contract's parameter name
    unit: str | None = None,
    since: Annotated[AwareDatetime | None, Query(description="changed at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=400, description="a page's `next`")] = None,
) -> Any:
    try:
        items, nxt = await service.queries.list_incidents(
            person=person,
            status=status,
            type_=type,
            unit=unit,
            since=since,
            limit=limit,
            cursor=cursor,
        )
    except BadCursor as exc:
        raise InvalidInput("cursor is not one this list gave you", field="cursor") from exc
    return {"items": items, "next": nxt, "count": len(items)}


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
async def get_incident(incident_id: str, person: CurrentPerson, service: Service) -> Any:
    return await service.queries.get_incident(person=person, incident_id=incident_id)


@router.post("/incidents/{incident_id}/ack", response_model=IncidentOut)
async def acknowledge(
    incident_id: str, person: CurrentPerson, service: Service, body: AckIn | None = None
) -> Any:
    incident = await service.commands.acknowledge(
        person=person, incident_id=incident_id, note=body.note if body else None
    )
    return public_view(incident)


@router.post("/incidents/{incident_id}/transition", response_model=IncidentOut)
async def transition(
    incident_id: str, body: TransitionIn, person: CurrentPerson, service: Service
) -> Any:
    if body.evidence is not None:
        check_free_form(body.evidence, "evidence")
    incident = await service.commands.transition(
        person=person, incident_id=incident_id, to=body.to, note=body.note, evidence=body.evidence
    )
    return public_view(incident)


@router.post("/incidents/{incident_id}/pest-steps", response_model=IncidentOut)
async def pest_step(
    incident_id: str, body: PestStepIn, person: CurrentPerson, service: Service
) -> Any:
    check_free_form(body.evidence, "evidence")
    incident = await service.commands.pest_step(
        person=person,
        incident_id=incident_id,
        step=body.step,
        evidence=body.evidence,
        result=body.result,
        note=body.note,
    )
    return public_view(incident)

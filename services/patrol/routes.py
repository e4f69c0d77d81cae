"""HTTP routes of the patrol service: parse, authorize, call a handler, shape the answer.

No business rules here. The points endpoint parses its body itself (pydantic-core straight from
the bytes) because it carries the volume: up to 1000 fixes per call from every ranger's phone.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, NotRequired

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from services.patrol.domain.patrol import RFC3339
from services.patrol.handlers import PatrolService, PointIn
from shared.auth import CurrentPerson

router = APIRouter(prefix="/v1", tags=["patrol"])


async def get_service(request: Request) -> PatrolService:  # async: no thread-pool hop
    service: PatrolService = request.app.state.patrol
    return service


Service = Annotated[PatrolService, Depends(get_service)]


class PatrolStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    started_at: AwareDatetime


class PointBody(BaseModel):
    """One GPS fix. `seq` identifies it within the patrol (a resend with the same seq is the same
    point); `t` must carry a time zone."""

    seq: int = Field(ge=0, le=2**53)
    t: AwareDatetime
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)


class PointsIn(BaseModel):
    """The documented shape of a batch (OpenAPI). Requests are validated by `_batch`, the same
    rules as TypedDicts: pydantic-core builds plain dicts 3× faster than model instances, and `t`
    stays the RFC 3339 text it was (shape checked here, calendar and bounds by the handler), so
    it reaches the event as sent instead of through 1000 datetime objects."""

    points: list[PointBody]
    coord_system: Literal["wgs84", "gcj02"] = "wgs84"


class _PointTD(TypedDict):
    seq: Annotated[int, Field(ge=0, le=2**53)]
    t: Annotated[str, Field(pattern=RFC3339)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    accuracy_m: NotRequired[Annotated[float | None, Field(ge=0)]]


class _BatchTD(TypedDict):
    points: list[_PointTD]
    coord_system: NotRequired[Literal["wgs84", "gcj02"]]


_batch: TypeAdapter[_BatchTD] = TypeAdapter(_BatchTD)


class PointsAccepted(BaseModel):
    accepted: int = Field(description="points of this batch handed to storage (all of them)")
    duplicates: int = Field(
        description=(
            "points of this batch whose seq was already stored for this patrol when the request "
            "was read (as far as the stored summary knew, a few seconds at most behind), or "
            "that repeat a seq earlier in the same batch. Informational: a resend racing its "
            "first copy may count 0, and is still stored once."
        )
    )


class FinishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_at: AwareDatetime


@router.post(
    "/patrols",
    status_code=201,
    summary="Start a patrol (rangers only); the same body again answers 200",
    responses={200: {"description": "already started with this body"}},
)
async def start_patrol(
    body: PatrolStartIn, person: CurrentPerson, service: Service, response: Response
) -> dict[str, Any]:
    created, view = await service.start(person, body.id, body.started_at)
    if not created:
        response.status_code = 200
    return dict(view)


@router.post(
    "/patrols/{patrol_id}/points",
    status_code=202,
    response_model=PointsAccepted,
    summary="Send up to 1000 fixes; 202 once Kafka has them (stored shortly after)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PointsIn.model_json_schema()}},
        }
    },
)
async def post_points(
    patrol_id: str, request: Request, person: CurrentPerson, service: Service
) -> Any:
    raw = await request.body()
    try:
        batch = _batch.validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    points: list[PointIn] = batch["points"]
    coord_system = batch.get("coord_system", "wgs84")
    accepted, duplicates = await service.ingest(person, patrol_id, points, coord_system)
    # The answer as bytes: the response model documents it, without validating it per call.
    answer = orjson.dumps({"accepted": accepted, "duplicates": duplicates})
    return Response(answer, status_code=202, media_type="application/json")


@router.post("/patrols/{patrol_id}/finish", summary="Finish a patrol; idempotent")
async def finish_patrol(
    patrol_id: str, body: FinishIn, person: CurrentPerson, service: Service
) -> dict[str, Any]:
    return dict(await service.finish(person, patrol_id, body.ended_at))


@router.get("/patrols/{patrol_id}", summary="A patrol and its track summary")
async def get_patrol(patrol_id: str, person: CurrentPerson, service: Service) -> dict[str, Any]:
    return await service.get(person, patrol_id)


@router.get("/patrols/{patrol_id}/track", summary="The track as a GeoJSON LineString Feature")
async def get_track(patrol_id: str, person: CurrentPerson, service: Service) -> dict[str, Any]:
    return await service.track(person, patrol_id)


@router.get("/patrols", summary="Patrols in scope")
async def list_patrols(
    person: CurrentPerson,
    service: Service,
    ranger_id: str | None = None,
    unit: str | None = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
) -> dict[str, Any]:
    items = await service.list_patrols(person, ranger_id=ranger_id, unit=unit, start=from_, end=to)
    return {"items": items, "count": len(items)}


@router.get(
    "/compliance",
    summary="Per ranger: patrols, valid days, distance, time, the village rule, what falls short",
    description=(
        "`from` and `to` are local dates (both included; default: this month so far). A valid "
        "patrol day has the rule's distance and time inside the ranger's own village."
    ),
)
async def compliance(
    person: CurrentPerson,
    service: Service,
    unit: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> dict[str, Any]:
    return await service.compliance(person, unit=unit, start=from_, end=to)


@router.get("/positions", summary="Last known position of each ranger on patrol in scope")
async def positions(
    person: CurrentPerson, service: Service, unit: str | None = None
) -> dict[str, Any]:
    items = await service.positions(person, unit)
    return {"items": items, "count": len(items)}

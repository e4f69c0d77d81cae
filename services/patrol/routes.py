"""HTTP routes of the patrol service: parse, authorize, call one use case, shape the answer.

No business rules here. The points endpoint parses its body itself (pydantic-core straight from
the bytes) because it carries the volume: up to 1000 fixes per call from every ranger's phone.
Each answer is its response model, rendered by orjson (`answer`).
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
from services.patrol.schemas import (
    ComplianceOut,
    PatrolList,
    PatrolOut,
    PositionList,
    PositionOut,
    TrackFeature,
)
from services.patrol.usecases import PatrolUseCases
from services.patrol.usecases.intake import PointIn
from services.patrol.usecases.listing import PAGE_MAX
from shared.auth import CurrentPerson

router = APIRouter(prefix="/v1", tags=["patrol"])


async def get_usecases(request: Request) -> PatrolUseCases:  # async: no thread-pool hop
    usecases: PatrolUseCases = request.app.state.patrol
    return usecases


UseCases = Annotated[PatrolUseCases, Depends(get_usecases)]


def answer(model: BaseModel, status_code: int = 200) -> Response:
    """The model's fields as orjson renders them (aware times as `+00:00`, as before models)."""
    body = orjson.dumps(model.model_dump(by_alias=True), option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status_code, media_type="application/json")


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
    stays the RFC 3339 text it was (shape checked here, calendar and bounds by the use case), so
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
    response_model=PatrolOut,
    summary="Start a patrol (rangers only); the same body again answers 200",
    responses={200: {"description": "already started with this body", "model": PatrolOut}},
)
async def start_patrol(body: PatrolStartIn, person: CurrentPerson, usecases: UseCases) -> Any:
    created, read = await usecases.flows.start(person, body.id, body.started_at)
    return answer(PatrolOut.of(read), 201 if created else 200)


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
    patrol_id: str, request: Request, person: CurrentPerson, usecases: UseCases
) -> Any:
    raw = await request.body()
    try:
        batch = _batch.validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    points: list[PointIn] = batch["points"]
    coord_system = batch.get("coord_system", "wgs84")
    accepted, duplicates = await usecases.intake.ingest(person, patrol_id, points, coord_system)
    # The answer as bytes: the response model documents it, without validating it per call.
    body = orjson.dumps({"accepted": accepted, "duplicates": duplicates})
    return Response(body, status_code=202, media_type="application/json")


@router.post(
    "/patrols/{patrol_id}/finish",
    response_model=PatrolOut,
    summary="Finish a patrol; idempotent",
)
async def finish_patrol(
    patrol_id: str, body: FinishIn, person: CurrentPerson, usecases: UseCases
) -> Any:
    return answer(PatrolOut.of(await usecases.flows.finish(person, patrol_id, body.ended_at)))


@router.get(
    "/patrols/{patrol_id}", response_model=PatrolOut, summary="A patrol and its track summary"
)
async def get_patrol(patrol_id: str, person: CurrentPerson, usecases: UseCases) -> Any:
    return answer(PatrolOut.of(await usecases.reads.patrol(person, patrol_id)))


@router.get(
    "/patrols/{patrol_id}/track",
    response_model=TrackFeature,
    summary="The track as a GeoJSON LineString Feature",
)
async def get_track(patrol_id: str, person: CurrentPerson, usecases: UseCases) -> Any:
    return answer(TrackFeature.of(await usecases.reads.track(person, patrol_id)))


@router.get("/patrols", response_model=PatrolList, summary="Patrols in scope")
async def list_patrols(
    person: CurrentPerson,
    usecases: UseCases,
    ranger_id: str | None = None,
    unit: str | None = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_MAX,
    cursor: Annotated[str | None, Query(max_length=400, description="a page's `next`")] = None,
) -> Any:
    page = await usecases.listings.patrols(
        person, ranger_id=ranger_id, unit=unit, start=from_, end=to, limit=limit, cursor=cursor
    )
    items = [PatrolOut.of(r) for r in page.patrols]
    return answer(PatrolList(items=items, count=len(items), next=page.next))


@router.get(
    "/compliance",
    response_model=ComplianceOut,
    summary="Per ranger: patrols, valid days, distance, time, the village rule, what falls short",
    description=(
        "`from` and `to` are local dates (both included; default: this month so far). A valid "
        "patrol day has the rule's distance and time inside the ranger's own village."
    ),
)
async def compliance(
    person: CurrentPerson,
    usecases: UseCases,
    unit: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Any:
    report = await usecases.compliance.compliance(person, unit=unit, start=from_, end=to)
    return answer(ComplianceOut.of(report))


@router.get(
    "/positions",
    response_model=PositionList,
    summary="Last known position of each ranger on patrol in scope",
)
async def positions(person: CurrentPerson, usecases: UseCases, unit: str | None = None) -> Any:
    items = [PositionOut.of(p) for p in await usecases.listings.positions(person, unit)]
    return answer(PositionList(items=items, count=len(items)))

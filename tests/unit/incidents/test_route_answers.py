"""The JSON each incidents route answers, on the use cases over fakes: every field the contract
and its additive fields name is there, so declaring response models loses none of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from services.incidents import routes
from services.incidents.usecases.events import incident_id_for
from shared.auth import issue_token
from shared.http import install_common
from tests.unit.incidents.conftest import ORG, VILLAGE, World

CHIEF, TOWNSHIP_CHIEF = f"vc-{VILLAGE}", f"tc-{VILLAGE[:9]}"
INCIDENT_FIELDS = {
    "id", "type", "family", "status", "severity", "verified", "village", "township", "district",
    "lat", "lon", "report_ids", "escalation_level", "next_escalation_at", "level_reached_at",
    "opened_at", "observed_at", "last_observed_at", "updated_at", "neighbour_units",
    "near_district_boundary", "police", "nearest_ranger_id", "reporter_id", "reporter_role",
    "source", "pixels", "details", "acknowledged_at", "acknowledged_by", "area_band_ha",
    "flame_checks_done", "pest_steps", "pest_outcome", "pest_deadlines_missed", "timeline",
    "neighbour_acks",
}  # fmt: skip
REPORT_FIELDS = {
    "id", "type", "lat", "lon", "observed_at", "received_at", "reporter_id", "reporter_role",
    "source", "village", "township", "district", "description", "photos", "details", "pixels",
    "incident_id",
}  # fmt: skip


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI(default_response_class=ORJSONResponse)
    app.state.settings, app.state.org, app.state.usecases = world.settings, ORG, world.uc
    install_common(app, "incidents")
    app.include_router(routes.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://incidents") as client:
        yield client


def as_(world: World, person_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(person_id, world.settings)}"}


async def an_incident(world: World, type_: str = "fire") -> tuple[str, str]:
    event = world.report(type_, photos=("tree.jpg",), details={"subcompartment": "12-3"})
    await world.uc.batches.on_reports([event])
    return event.data.report_id, incident_id_for(event.data.report_id)


async def test_one_incident_answers_every_field_with_its_timeline(
    world: World, http: httpx.AsyncClient
) -> None:
    _, incident_id = await an_incident(world)
    answer = await http.get(f"/v1/incidents/{incident_id}", headers=as_(world, CHIEF))
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    assert set(body) == INCIDENT_FIELDS
    assert body["status"] == "reported" and body["timeline"][0]["event"] == "reported"
    assert set(body["timeline"][0]) == {"at", "event", "actor", "note"}
    # value for value what the use case's answer is as JSON, times with their `+00:00`
    shown = await world.uc.queries.get_incident(person=ORG.person(CHIEF), incident_id=incident_id)
    assert answer.content == orjson.dumps(shown) or body == orjson.loads(orjson.dumps(shown))
    assert body["opened_at"].endswith("+00:00")


async def test_a_list_answers_items_next_and_count(world: World, http: httpx.AsyncClient) -> None:
    await an_incident(world)
    answer = await http.get(f"/v1/incidents?unit={VILLAGE}", headers=as_(world, CHIEF))
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"items", "next", "count"} and body["count"] == 1
    assert set(body["items"][0]) == INCIDENT_FIELDS and body["items"][0]["timeline"] == []


async def test_commands_answer_the_incident_as_it_now_stands(
    world: World, http: httpx.AsyncClient
) -> None:
    _, incident_id = await an_incident(world)
    acked = await http.post(
        f"/v1/incidents/{incident_id}/ack", json={"note": "on it"}, headers=as_(world, CHIEF)
    )
    assert acked.status_code == 200 and set(acked.json()) == INCIDENT_FIELDS
    assert acked.json()["status"] == "acknowledged"
    moved = await http.post(
        f"/v1/incidents/{incident_id}/transition",
        json={"to": "responding"},
        headers=as_(world, TOWNSHIP_CHIEF),
    )
    assert moved.status_code == 200 and moved.json()["status"] == "responding"
    assert set(moved.json()) == INCIDENT_FIELDS


async def test_a_pest_step_answers_the_incident_with_its_steps(
    world: World, http: httpx.AsyncClient
) -> None:
    _, incident_id = await an_incident(world, "pest")
    answer = await http.post(
        f"/v1/incidents/{incident_id}/pest-steps",
        json={"step": "checked", "evidence": {"photo": "a.jpg", "gps": "29.4,108.6"}},
        headers=as_(world, f"rg-{VILLAGE}-1"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == INCIDENT_FIELDS
    assert [s["name"] for s in body["pest_steps"]][-1] == "checked"
    assert set(body["pest_steps"][-1]) == {"name", "at", "actor", "evidence", "result", "note"}
    refused = await http.post(
        f"/v1/incidents/{incident_id}/pest-steps",
        json={"step": "checked", "evidence": {"photo": "a.jpg"}},
        headers=as_(world, f"rg-{VILLAGE}-1"),
    )
    assert refused.status_code in (409, 422) and "detail" in refused.json()


async def test_a_report_answers_its_fields_and_its_incident(
    world: World, http: httpx.AsyncClient
) -> None:
    report_id, incident_id = await an_incident(world)
    answer = await http.get(f"/v1/reports/{report_id}", headers=as_(world, CHIEF))
    assert answer.status_code == 200
    assert set(answer.json()) == REPORT_FIELDS and answer.json()["incident_id"] == incident_id
    shown = await world.uc.intake.get_report(person=ORG.person(CHIEF), report_id=report_id)
    assert answer.json() == orjson.loads(orjson.dumps(shown))


async def test_hotspots_answer_what_was_taken_dropped_and_refused(
    world: World, http: httpx.AsyncClient
) -> None:
    lat, lon = ORG.unit(VILLAGE).point
    seen = world.clock.now() - timedelta(minutes=10)
    day, hhmm = seen.strftime("%Y-%m-%d"), seen.strftime("%H%M")
    header = "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,confidence"
    rows = [
        f"{lat:.5f},{lon:.5f},330.1,1.0,1.0,{day},{hhmm},Terra,80",
        f"abc,{lon:.5f},310.0,1.0,1.0,{day},{hhmm},Terra,90",
    ]
    answer = await http.post(
        "/v1/hotspots",
        content="\n".join([header, *rows]) + "\n",
        headers={**as_(world, "hq-500114"), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert set(body) == {
        "accepted",
        "reports",
        "dropped_low_confidence",
        "outside_district",
        "rejected",
        "new_reports",
        "already_stored",
        "refused",
    }
    assert body["accepted"] == 1 and len(body["reports"]) == 1
    assert body["rejected"] == [{"row": 2, "reason": "latitude: not a number ('abc')"}]
    assert body["new_reports"] == body["reports"] and body["already_stored"] == []


async def test_a_reuploaded_hotspot_is_named_already_stored_and_not_sent_again(
    world: World, http: httpx.AsyncClient
) -> None:
    lat, lon = ORG.unit(VILLAGE).point
    seen = world.clock.now() - timedelta(minutes=10)
    day, hhmm = seen.strftime("%Y-%m-%d"), seen.strftime("%H%M")
    header = "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,confidence"
    body = f"{header}\n{lat:.5f},{lon:.5f},330.1,1.0,1.0,{day},{hhmm},Terra,80\n"
    headers = {**as_(world, "hq-500114"), "Content-Type": "text/csv"}
    first = (await http.post("/v1/hotspots", content=body, headers=headers)).json()
    await world.uc.batches.on_reports(world.publisher.of_type("report.submitted"))
    sent = len(world.publisher.of_type("report.submitted"))
    again = (await http.post("/v1/hotspots", content=body, headers=headers)).json()
    assert again["reports"] == again["already_stored"] == first["new_reports"]
    assert again["new_reports"] == [] and again["refused"] == [] and again["accepted"] == 1
    assert len(world.publisher.of_type("report.submitted")) == sent


async def test_a_submitted_report_answers_its_id(world: World, http: httpx.AsyncClient) -> None:
    body = {
        "id": "6f1c1f7e-9a59-4c47-9a55-0d0f9d7e1c11",
        "type": "fire",
        "lat": ORG.unit(VILLAGE).point[0],
        "lon": ORG.unit(VILLAGE).point[1],
        "observed_at": world.clock.now().isoformat(),
    }
    answer = await http.post("/v1/reports", json=body, headers=as_(world, f"rg-{VILLAGE}-1"))
    assert answer.status_code == 202 and answer.json() == {"report_id": body["id"]}
    assert world.publisher.types()[-1] == "report.submitted"

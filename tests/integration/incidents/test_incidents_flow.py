"""Against the real Kafka and FerretDB: reports become placed incidents, duplicates join them,
bad input is refused with the field named, the lifecycle and pest loop hold over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.incidents.app import create_app
from services.incidents.settings import IncidentsSettings
from shared.events import IncidentOpened, IncidentUpdated
from shared.topics import INCIDENTS
from tests.integration.incidents.conftest import (
    OTHER_VILLAGE,
    VILLAGE,
    point_in,
    report_body,
)
from tests.support.kafka import read_topic, wait_until
from tests.support.server import serve

RANGER = f"rg-{VILLAGE}-1"
CHIEF = f"vc-{VILLAGE}"


async def incident_of(c: httpx.AsyncClient, report_id: str, auth: str) -> str:
    async def linked() -> str | None:
        r = await c.get(f"/v1/reports/{report_id}", headers={"Authorization": auth})
        return r.json().get("incident_id") if r.status_code == 200 else None

    result: str = await wait_until(linked, timeout_s=15)
    return result


def settings(settings_for: Callable[..., Any], **kw: Any) -> IncidentsSettings:
    s: IncidentsSettings = settings_for(IncidentsSettings, incident_shards=4, **kw)
    return s


async def test_report_becomes_incident_in_its_village_and_duplicate_joins_it(
    settings_for: Callable[..., Any], token: Callable[[str], str]
) -> None:
    s = settings(settings_for)
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        first = report_body("fire", details={"burned_area_ha": 0.2})
        r = await c.post("/v1/reports", json=first, headers={"Authorization": token(RANGER)})
        assert r.status_code == 202 and r.json() == {"report_id": first["id"]}
        # Resending the same id changes nothing.
        again = await c.post("/v1/reports", json=first, headers={"Authorization": token(RANGER)})
        assert again.status_code == 202
        incident_id = await incident_of(c, first["id"], token(RANGER))
        lat, lon = point_in(VILLAGE)
        dup = report_body("smoke", at=(lat + 0.003, lon))  # ~330 m away: same fire
        r = await c.post("/v1/reports", json=dup, headers={"Authorization": token("pub-1")})
        assert r.status_code == 202
        assert await incident_of(c, dup["id"], token("pub-1")) == incident_id
        far = report_body("fire", village=OTHER_VILLAGE)
        await c.post("/v1/reports", json=far, headers={"Authorization": token(RANGER)})
        assert await incident_of(c, far["id"], token(RANGER)) != incident_id

        got = (
            await c.get(f"/v1/incidents/{incident_id}", headers={"Authorization": token(CHIEF)})
        ).json()
        assert got["village"] == VILLAGE and got["township"] == "500114001"
        assert got["district"] == "500114"
        assert got["report_ids"] == [first["id"], dup["id"]]
        assert [e["event"] for e in got["timeline"]] == ["reported", "report_merged"]
        # Public sees their own report but not the incident.
        r = await c.get(f"/v1/incidents/{incident_id}", headers={"Authorization": token("pub-1")})
        assert r.status_code == 404
        # Another village's chief is out of scope: 404, as if absent.
        r = await c.get(
            f"/v1/incidents/{incident_id}", headers={"Authorization": token(f"vc-{OTHER_VILLAGE}")}
        )
        assert r.status_code == 404
        listed = await c.get(
            "/v1/incidents", params={"type": "fire"}, headers={"Authorization": token("dc-500114")}
        )
        assert {i["id"] for i in listed.json()["items"]} >= {incident_id}

    events = await read_topic(s, INCIDENTS, 3)
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    updated = [e for e in events if isinstance(e, IncidentUpdated)]
    assert len(opened) == 2
    assert [e.data.reason for e in updated] == ["report_merged"]
    assert updated[0].data.incident.report_ids == (first["id"], dup["id"])


async def test_a_report_under_an_id_holding_another_reporters_report_is_dropped(
    settings_for: Callable[..., Any], token: Callable[[str], str]
) -> None:
    """The intake answers from the request alone (no store round trip); the reports consumer
    stores reports, and the first stored under an id wins. Two different reports racing on one
    id, and a later one under the stored id from another person, are dropped and counted: one
    report, in one incident, never changed by someone else; its reporter's resend is a no-op."""
    from prometheus_client import REGISTRY

    def dropped() -> float:
        return REGISTRY.get_sample_value("hulin_reports_dropped_total") or 0.0

    s = settings(settings_for)
    before = dropped()
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        ranger = report_body("fire", description="ranger's")
        public = {**ranger, "description": "public's"}
        answers = await asyncio.gather(
            c.post("/v1/reports", json=ranger, headers={"Authorization": token(RANGER)}),
            c.post("/v1/reports", json=public, headers={"Authorization": token("pub-1")}),
        )
        assert [r.status_code for r in answers] == [202, 202], [r.text for r in answers]
        incident_id = await incident_of(c, ranger["id"], token(CHIEF))
        await wait_until(lambda: dropped() == before + 1, timeout_s=10)

        async def stored() -> dict[str, Any]:
            r = await c.get(f"/v1/reports/{ranger['id']}", headers={"Authorization": token(CHIEF)})
            out: dict[str, Any] = r.json()
            return out

        first = await stored()
        winner = {RANGER: ranger, "pub-1": public}
        assert first["description"] == winner[first["reporter_id"]]["description"]
        # Later: another person's report under the stored id is dropped; the reporter's resend
        # changes nothing.
        loser = "pub-1" if first["reporter_id"] == RANGER else RANGER
        moved = {**winner[loser], "lat": ranger["lat"] + 0.001}
        r = await c.post("/v1/reports", json=moved, headers={"Authorization": token(loser)})
        assert r.status_code == 202
        await wait_until(lambda: dropped() == before + 2, timeout_s=10)
        again = await c.post(
            "/v1/reports",
            json=winner[first["reporter_id"]],
            headers={"Authorization": token(first["reporter_id"])},
        )
        assert again.status_code == 202
        assert await stored() == first
        got = (
            await c.get(f"/v1/incidents/{incident_id}", headers={"Authorization": token(CHIEF)})
        ).json()
        assert got["report_ids"] == [ranger["id"]]
        assert [e["event"] for e in got["timeline"]] == ["reported"]


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    settings_for: Callable[..., Any], token: Callable[[str], str]
) -> None:
    s = settings(settings_for)
    auth = {"Authorization": token(RANGER)}
    future = datetime.now(UTC) + timedelta(hours=2)
    cases: list[tuple[dict[str, Any], str]] = [
        (report_body("volcano"), "type"),
        (report_body("fire", at=(91.0, 108.7)), "lat"),
        (report_body("fire", at=(39.9, 116.4)), "lat"),  # Beijing: outside the district
        (report_body("fire", observed_at=future), "observed_at"),
        (report_body("fire", description="x" * 5000), "description"),
        (report_body("fire", photos=[f"p{i}.jpg" for i in range(11)]), "photos"),
        (report_body("fire", details={"burned_area_ha": -1}), "details.burned_area_ha"),
        (report_body("hotspot"), "type"),
    ]
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        for body, field in cases:
            r = await c.post("/v1/reports", json=body, headers=auth)
            assert r.status_code == 422, (field, r.text)
            assert field in {e["field"] for e in r.json()["errors"]}, (field, r.json())
            got = await c.get(f"/v1/reports/{body['id']}", headers=auth)
            assert got.status_code == 404
        # Hotspots: missing columns → 422 naming them; only HQ/command center/admin may upload.
        r = await c.post(
            "/v1/hotspots",
            content="latitude,longitude\n29.5,108.7\n",
            headers={"Authorization": token("hq-500114"), "Content-Type": "text/csv"},
        )
        assert r.status_code == 422
        assert {"scan", "track", "acq_date"} <= {e["field"] for e in r.json()["errors"]}
        r = await c.post("/v1/hotspots", content="x", headers=auth)
        assert r.status_code == 403


async def test_hotspots_are_clustered_low_confidence_dropped_bad_rows_listed(
    settings_for: Callable[..., Any], token: Callable[[str], str]
) -> None:
    s = settings(settings_for)
    lat, lon = point_in(VILLAGE)
    seen = datetime.now(UTC) - timedelta(minutes=10)
    day, hhmm = seen.strftime("%Y-%m-%d"), seen.strftime("%H%M")
    header = (
        "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,confidence,frp,"
        "daynight"
    )
    rows = [
        f"{lat:.5f},{lon:.5f},330.1,1.0,1.0,{day},{hhmm},Terra,80,12.5,D",
        f"{lat + 0.008:.5f},{lon:.5f},331.2,1.0,1.0,{day},{hhmm},Terra,75,10.0,D",
        f"{lat + 0.016:.5f},{lon:.5f},329.0,1.0,1.0,{day},{hhmm},Terra,60,8.0,D",
        f"{lat:.5f},{lon + 0.2:.5f},310.0,1.0,1.0,{day},{hhmm},Terra,10,1.0,D",  # low confidence
        f"abc,{lon:.5f},310.0,1.0,1.0,{day},{hhmm},Terra,90,1.0,D",  # garbage
    ]
    body = "\n".join([header, *rows]) + "\n"
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        r = await c.post(
            "/v1/hotspots",
            content=body,
            headers={"Authorization": token("hq-500114"), "Content-Type": "text/csv"},
        )
        assert r.status_code == 202, r.text
        answer = r.json()
        assert answer["accepted"] == 3 and answer["dropped_low_confidence"] == 1
        assert answer["rejected"] == [{"row": 5, "reason": "latitude: not a number ('abc')"}]
        assert len(answer["reports"]) == 1
        incident_id = await incident_of(c, answer["reports"][0], token("hq-500114"))
        got = (
            await c.get(
                f"/v1/incidents/{incident_id}", headers={"Authorization": token("hq-500114")}
            )
        ).json()
    assert got["type"] == "hotspot" and got["verified"] is False and got["pixels"] == 3
    assert got["escalation_level"] == 3  # ≥ 3 pixels: straight to district + HQ


async def test_a_report_under_a_coming_hotspots_public_id_does_not_suppress_it(
    settings_for: Callable[..., Any], token: Callable[[str], str]
) -> None:
    """Anyone reading the FIRMS feed can work out the uuid5 of a coming cluster and post an app
    report under it first; the satellite report lives in its own id space, so it is still stored
    and opens its own incident, and the upload says so."""
    from services.incidents.domain.hotspots import HOTSPOT_NAMESPACE

    s = settings(settings_for)
    lat, lon = point_in(OTHER_VILLAGE)
    seen = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    day, hhmm = seen.strftime("%Y-%m-%d"), seen.strftime("%H%M")
    row = f"{lat:.5f},{lon:.5f},330.1,1.0,1.0,{day},{hhmm},Terra,80"
    public_key = f"Terra|{seen.isoformat()}|{float(f'{lat:.5f}'):.5f}|{float(f'{lon:.5f}'):.5f}"
    squatted = str(uuid.uuid5(HOTSPOT_NAMESPACE, public_key))
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        squat = report_body("smoke", village=VILLAGE, id=squatted)
        r = await c.post("/v1/reports", json=squat, headers={"Authorization": token("pub-1")})
        assert r.status_code == 202
        squat_incident = await incident_of(c, squatted, token("hq-500114"))
        header = "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,confidence"
        r = await c.post(
            "/v1/hotspots",
            content=f"{header}\n{row}\n",
            headers={"Authorization": token("hq-500114"), "Content-Type": "text/csv"},
        )
        assert r.status_code == 202, r.text
        answer = r.json()
        [hotspot] = answer["reports"]
        assert answer["new_reports"] == [hotspot] and answer["refused"] == []
        incident_id = await incident_of(c, hotspot, token("hq-500114"))
        got = (
            await c.get(
                f"/v1/incidents/{incident_id}", headers={"Authorization": token("hq-500114")}
            )
        ).json()
    assert incident_id != squat_incident
    assert got["type"] == "hotspot" and got["report_ids"] == [hotspot]


async def test_unverified_incident_names_nearest_ranger_and_a_ranger_report_verifies_it(
    settings_for: Callable[..., Any], token: Callable[[str], str]
) -> None:
    from shared.events import PositionUpdated, PositionUpdatedData
    from shared.kafka import Publisher

    s = settings(settings_for)
    lat, lon = point_in(VILLAGE)
    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        pub = Publisher(s)
        await pub.start()
        now = datetime.now(UTC)
        for rid, dlat in ((f"rg-{VILLAGE}-1", 0.01), (f"rg-{VILLAGE}-2", 0.002)):
            await pub.publish(
                PositionUpdated.new(
                    PositionUpdatedData(
                        ranger_id=rid,
                        patrol_id=f"p-{rid}",
                        village=VILLAGE,
                        lat=lat + dlat,
                        lon=lon,
                        t=now,
                    ),
                    key=rid,
                    producer="test",
                )
            )
        await pub.stop()
        await asyncio.sleep(2.0)  # let the patrol consumer store the positions
        body = report_body("smoke")
        await c.post("/v1/reports", json=body, headers={"Authorization": token("pub-1")})
        incident_id = await incident_of(c, body["id"], token("pub-1"))
        got = (
            await c.get(f"/v1/incidents/{incident_id}", headers={"Authorization": token(CHIEF)})
        ).json()
        assert got["verified"] is False
        assert got["nearest_ranger_id"] == f"rg-{VILLAGE}-2"
        seen = report_body("fire", at=(lat + 0.001, lon))
        await c.post("/v1/reports", json=seen, headers={"Authorization": token(RANGER)})
        assert await incident_of(c, seen["id"], token(RANGER)) == incident_id
        got = (
            await c.get(f"/v1/incidents/{incident_id}", headers={"Authorization": token(CHIEF)})
        ).json()
        assert got["verified"] is True
    events = await read_topic(s, INCIDENTS, 2)
    assert [e.data.reason for e in events if isinstance(e, IncidentUpdated)] == ["verified"]


async def test_lifecycle_roles_and_pest_loop_over_http(
    settings_for: Callable[..., Any], token: Callable[[str], str]
) -> None:
    s = settings(settings_for)
    township = "tc-500114001"

    def h(who: str) -> dict[str, str]:
        return {"Authorization": token(who)}

    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        body = report_body("pest", photos=["tree.jpg"], details={"subcompartment": "12-3"})
        await c.post("/v1/reports", json=body, headers=h(RANGER))
        iid = await incident_of(c, body["id"], token(RANGER))
        base = f"/v1/incidents/{iid}"
        assert (await c.post(f"{base}/ack", headers=h(RANGER))).status_code == 403
        assert (
            await c.post(f"{base}/transition", json={"to": "resolved"}, headers=h(CHIEF))
        ).status_code == 409
        assert (await c.post(f"{base}/ack", headers=h(CHIEF))).status_code == 200
        assert (await c.post(f"{base}/ack", headers=h(CHIEF))).status_code == 409
        # The loop: "reported" was done by the report itself; "checked" needs photo and gps.
        r = await c.post(
            f"{base}/pest-steps", json={"step": "sampled", "evidence": {}}, headers=h(RANGER)
        )
        assert r.status_code == 409 and "checked" in r.json()["detail"]
        r = await c.post(
            f"{base}/pest-steps",
            json={"step": "checked", "evidence": {"photo": "a.jpg"}},
            headers=h(RANGER),
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "evidence.gps"
        r = await c.post(
            f"{base}/pest-steps",
            json={"step": "checked", "evidence": {"photo": "a.jpg", "gps": "29.4,108.6"}},
            headers=h(RANGER),
        )
        assert r.status_code == 200
        r = await c.post(f"{base}/transition", json={"to": "closed"}, headers=h(township))
        assert r.status_code == 409  # loop not finished
        r = await c.post(
            f"{base}/transition",
            json={
                "to": "pest_step:sampled",
                "evidence": {"photo": "s.jpg", "sampler": "rg", "sample_label": "S1"},
            },
            headers=h(RANGER),
        )
        assert r.status_code == 200
        r = await c.post(
            f"{base}/pest-steps",
            json={
                "step": "county_test",
                "evidence": {"lab_result": "lab-7.pdf"},
                "result": "negative",
            },
            headers=h(CHIEF),
        )
        assert r.status_code == 200 and r.json()["pest_outcome"] == "negative"
        assert (
            await c.post(f"{base}/transition", json={"to": "closed"}, headers=h(CHIEF))
        ).status_code == 403
        r = await c.post(
            f"{base}/transition", json={"to": "closed", "note": "negative"}, headers=h(township)
        )
        assert r.status_code == 200 and r.json()["status"] == "closed"
        events = [e["event"] for e in r.json()["timeline"]]
        assert events == [
            "reported",
            "pest_step:reported",
            "acknowledged",
            "pest_step:checked",
            "pest_step:sampled",
            "pest_step:county_test",
            "status:closed",
        ]

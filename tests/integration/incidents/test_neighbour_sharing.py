"""Against the real Kafka and FerretDB: a report near a village boundary is shared with the
neighbour village's chain, whose chief reads it and acknowledges knowing of it (not for the
owner: the owner's deadline still climbs), may not act on it; a stranger still gets 404."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from services.incidents.app import create_app
from services.incidents.settings import IncidentsSettings
from shared.events import IncidentUpdated
from shared.topics import INCIDENTS
from tests.integration.incidents.conftest import near_edge, report_body
from tests.support.kafka import read_topic, wait_until
from tests.support.server import serve

OWN, NEIGHBOUR = "500114001001", "500114001002"
RANGER, OWNER_CHIEF = f"rg-{OWN}-1", f"vc-{OWN}"
NEIGHBOUR_CHIEF, STRANGER = f"vc-{NEIGHBOUR}", "vc-500114002002"


async def test_the_neighbour_chief_reads_and_acknowledges_a_boundary_fire_but_may_not_act(
    settings_for: Callable[..., Any],
    token: Callable[[str], str],
    short_policy: Callable[..., Path],
) -> None:
    s = settings_for(IncidentsSettings, incident_shards=4, policy_file=short_policy(4.0, 60, 60))

    def h(who: str) -> dict[str, str]:
        return {"Authorization": token(who)}

    async with serve(create_app(s)) as srv, httpx.AsyncClient(base_url=srv.url) as c:
        body = report_body("fire", at=near_edge(OWN, NEIGHBOUR))
        assert (await c.post("/v1/reports", json=body, headers=h(RANGER))).status_code == 202

        async def linked() -> str | None:
            r = await c.get(f"/v1/reports/{body['id']}", headers=h(RANGER))
            return r.json().get("incident_id") if r.status_code == 200 else None

        iid: str = await wait_until(linked, timeout_s=15)
        base = f"/v1/incidents/{iid}"

        r = await c.get(base, headers=h(NEIGHBOUR_CHIEF))
        assert r.status_code == 200, r.text
        assert r.json()["village"] == OWN and NEIGHBOUR in r.json()["neighbour_units"]
        assert (await c.get(base, headers=h(STRANGER))).status_code == 404
        assert (await c.post(f"{base}/ack", headers=h(STRANGER))).status_code == 404

        first = await c.post(f"{base}/ack", json={"note": "watching"}, headers=h(NEIGHBOUR_CHIEF))
        assert first.status_code == 200, first.text
        again = await c.post(f"{base}/ack", headers=h(NEIGHBOUR_CHIEF))
        assert again.status_code == 200
        for answer in (first.json(), again.json()):
            assert answer["status"] == "reported" and answer["acknowledged_by"] is None
            assert [(a["unit"], a["person"]) for a in answer["neighbour_acks"]] == [
                (NEIGHBOUR, NEIGHBOUR_CHIEF)
            ]

        for to in ("responding", "false_alarm"):
            r = await c.post(
                f"{base}/transition", json={"to": to, "note": "x"}, headers=h(NEIGHBOUR_CHIEF)
            )
            assert r.status_code == 403, r.text
            assert "may read and acknowledge" in r.json()["detail"]
            assert r.json()["errors"][0]["field"] == "role"
        r = await c.post(
            f"{base}/pest-steps",
            json={"step": "checked", "evidence": {}},
            headers=h(NEIGHBOUR_CHIEF),
        )
        assert r.status_code == 403

        async def climbed() -> dict[str, Any] | None:
            got: dict[str, Any] = (await c.get(base, headers=h(OWNER_CHIEF))).json()
            return got if got["escalation_level"] == 1 else None

        got = await wait_until(climbed, timeout_s=15)  # the owner's 4 s deadline still fires
        assert got["status"] == "reported" and len(got["neighbour_acks"]) == 1
        timeline = [e["event"] for e in got["timeline"]]
        assert timeline == ["reported", "neighbour_acknowledged", "escalated"]
        r = await c.post(f"{base}/ack", headers=h(f"tc-{OWN[:9]}"))
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"

    updates = [e for e in await read_topic(s, INCIDENTS, 4) if isinstance(e, IncidentUpdated)]
    assert [(e.data.reason, e.data.actor) for e in updates] == [
        (f"neighbour_acknowledged:{NEIGHBOUR}", NEIGHBOUR_CHIEF)
    ]

"""Every endpoint × role × in-scope/out-of-scope, as one table: nothing leaks across units.

Village A and village B lie in different townships, far from any boundary. Seeded through the
public API: a patrol of a ranger of A and one of B, an incident in A (a ranger's 四乱 report), a
public person's report in B, an HQ webhook, and a notification in A's village chief's inbox. Then
each row calls one endpoint as one person and checks the status — and, for an answer that is a list,
that nothing of the other village appears in it. Out of scope is 404 (as if absent), a wrong role
403, no token 401 (DESIGN.md "Authentication and scope").
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.org import Role
from tests.e2e.hulin_system import (
    HulinSystem,
    bearer,
    incident_of,
    interior_villages,
    person_of,
    running_system,
    the_org,
    wait_for,
)

ORG = the_org()
A, B = interior_villages(ORG)
TWP_A, TWP_B = ORG.township_of(A).code, ORG.township_of(B).code
DISTRICT = ORG.district.code

PEOPLE = {
    "ranger_a": person_of(ORG, A, Role.RANGER),
    "ranger_a2": ORG.people_in(A, Role.RANGER)[-1].id,
    "ranger_b": person_of(ORG, B, Role.RANGER),
    "vc_a": person_of(ORG, A, Role.VILLAGE_CHIEF),
    "sv_a": person_of(ORG, A, Role.SUPERVISOR),
    "in_a": person_of(ORG, A, Role.INSTRUCTOR),
    "vc_b": person_of(ORG, B, Role.VILLAGE_CHIEF),
    "tc_a": person_of(ORG, TWP_A, Role.TOWNSHIP_CHIEF),
    "tc_b": person_of(ORG, TWP_B, Role.TOWNSHIP_CHIEF),
    "po_a": person_of(ORG, TWP_A, Role.POLICE),
    "dc": person_of(ORG, DISTRICT, Role.DISTRICT_CHIEF),
    "cc": person_of(ORG, DISTRICT, Role.COMMAND_CENTER),
    "hq": person_of(ORG, DISTRICT, Role.HQ),
    "admin": person_of(ORG, DISTRICT, Role.ADMIN),
    "pub1": "pub-1",
    "pub2": "pub-2",
    "none": "",
}
DISTRICT_WIDE = ("dc", "cc", "hq", "admin")
IN_SCOPE_A = ("vc_a", "sv_a", "in_a", "tc_a", "po_a", *DISTRICT_WIDE)
OUT_OF_SCOPE_A = ("vc_b", "tc_b", "ranger_b")


def now_iso(minus_s: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=minus_s)).isoformat()


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str  # with {placeholders} from the seeded ids
    who: str
    expect: tuple[int, ...]
    body: Callable[[dict[str, str]], Any] | None = None
    must_not_contain: tuple[str, ...] = ()  # seeded ids that must not appear in a 2xx body

    @property
    def id(self) -> str:
        return f"{self.service}:{self.method} {self.path} as {self.who} -> {self.expect}"


def points_body(ids: dict[str, str]) -> dict[str, Any]:
    lat, lon = ORG.unit(A).point
    return {"points": [{"seq": 900, "t": now_iso(30), "lat": lat, "lon": lon}]}


def rows() -> list[Row]:
    out: list[Row] = []

    def add(service: str, method: str, path: str, expect: int | tuple[int, ...], *who: str,
            body: Callable[[dict[str, str]], Any] | None = None,
            hide: tuple[str, ...] = ()) -> None:
        codes = expect if isinstance(expect, tuple) else (expect,)
        out.extend(Row(service, method, path, w, codes, body, hide) for w in who)

    # --- patrol -----------------------------------------------------------------------------
    for path in ("/v1/patrols/{patrol_a}", "/v1/patrols/{patrol_a}/track"):
        add("patrol", "GET", path, 200, "ranger_a", *IN_SCOPE_A)
        add("patrol", "GET", path, 404, *OUT_OF_SCOPE_A, "pub1")
        add("patrol", "GET", path, 401, "none")
    add("patrol", "POST", "/v1/patrols", 403, "vc_a", "sv_a", "tc_a", "po_a", *DISTRICT_WIDE,
        "pub1", body=lambda ids: {"id": str(uuid.uuid4()), "started_at": now_iso(60)})
    add("patrol", "POST", "/v1/patrols", 401, "none",
        body=lambda ids: {"id": str(uuid.uuid4()), "started_at": now_iso(60)})
    add("patrol", "POST", "/v1/patrols", 201, "ranger_b",
        body=lambda ids: {"id": str(uuid.uuid4()), "started_at": now_iso(60)})
    add("patrol", "POST", "/v1/patrols/{patrol_a}/points", 404, *OUT_OF_SCOPE_A, "pub1",
        body=points_body)
    add("patrol", "POST", "/v1/patrols/{patrol_a}/points", (403, 404), "ranger_a2", "vc_a",
        "dc", body=points_body)
    add("patrol", "POST", "/v1/patrols/{patrol_a}/points", 401, "none", body=points_body)
    add("patrol", "POST", "/v1/patrols/{patrol_a}/finish", 404, *OUT_OF_SCOPE_A, "pub1",
        body=lambda ids: {"ended_at": now_iso()})
    add("patrol", "POST", "/v1/patrols/{patrol_a}/finish", (403, 404), "ranger_a2", "vc_a",
        body=lambda ids: {"ended_at": now_iso()})
    add("patrol", "GET", "/v1/patrols?unit=" + A, 404, "vc_b", "tc_b", "ranger_b")
    add("patrol", "GET", "/v1/patrols?unit=" + A, 200, "vc_a", "tc_a", "dc")
    add("patrol", "GET", "/v1/patrols", 200, "vc_b", "tc_b", "ranger_b", hide=("{patrol_a}",))
    add("patrol", "GET", "/v1/patrols", 200, "vc_a", hide=("{patrol_b}",))
    add("patrol", "GET", "/v1/patrols", 401, "none")
    add("patrol", "GET", "/v1/compliance?unit=" + A, 404, "vc_b", "tc_b")
    add("patrol", "GET", "/v1/compliance?unit=" + A, 200, "vc_a", "tc_a", "dc")
    add("patrol", "GET", "/v1/compliance?unit=" + A, 401, "none")
    add("patrol", "GET", "/v1/positions?unit=" + A, 404, "vc_b", "tc_b")
    add("patrol", "GET", "/v1/positions?unit=" + A, 200, "vc_a", "cc")
    add("patrol", "GET", "/v1/positions", 200, "vc_b", hide=(PEOPLE["ranger_a"],))
    add("patrol", "GET", "/v1/positions", 401, "none")

    # --- incidents --------------------------------------------------------------------------
    add("incidents", "GET", "/v1/incidents/{incident_a}", 200, "ranger_a", *IN_SCOPE_A)
    add("incidents", "GET", "/v1/incidents/{incident_a}", 404, *OUT_OF_SCOPE_A, "pub1")
    add("incidents", "GET", "/v1/incidents/{incident_a}", 401, "none")
    add("incidents", "GET", "/v1/incidents", 200, "vc_b", "tc_b", "ranger_b",
        hide=("{incident_a}",))
    add("incidents", "GET", "/v1/incidents", 200, "vc_a", "tc_a", hide=("{incident_b}",))
    add("incidents", "GET", "/v1/incidents", (200, 403), "pub1", hide=("{incident_a}",))
    add("incidents", "GET", "/v1/incidents", 401, "none")
    add("incidents", "GET", "/v1/incidents?unit=" + A, 404, "vc_b", "tc_b")
    add("incidents", "GET", "/v1/reports/{report_a}", 200, "ranger_a", "vc_a", "dc")
    add("incidents", "GET", "/v1/reports/{report_a}", 404, "vc_b", "tc_b", "ranger_b", "pub1")
    add("incidents", "GET", "/v1/reports/{report_a}", 401, "none")
    add("incidents", "GET", "/v1/reports/{report_pub}", 200, "pub1", "vc_b", "dc")
    add("incidents", "GET", "/v1/reports/{report_pub}", 404, "pub2", "vc_a", "tc_a")
    for who, village in (("pub2", B), ("ranger_a", A)):
        add("incidents", "POST", "/v1/reports", 202, who, body=lambda ids, v=village: {
            "id": str(uuid.uuid4()), "type": "other", "lat": ORG.unit(v).point[0] + 0.004,
            "lon": ORG.unit(v).point[1], "observed_at": now_iso(60), "description": "matrix"})
    add("incidents", "POST", "/v1/reports", 401, "none", body=lambda ids: {
        "id": str(uuid.uuid4()), "type": "other", "lat": ORG.unit(B).point[0],
        "lon": ORG.unit(B).point[1], "observed_at": now_iso(60)})
    for action, body in (("ack", lambda ids: {}),
                         ("transition", lambda ids: {"to": "responding", "note": "matrix"})):
        add("incidents", "POST", "/v1/incidents/{incident_a}/" + action, 404, *OUT_OF_SCOPE_A,
            "pub1", "pub2", body=body)
        add("incidents", "POST", "/v1/incidents/{incident_a}/" + action, 401, "none", body=body)
    add("incidents", "POST", "/v1/hotspots", 401, "none", body=lambda ids: [])

    # --- notify -----------------------------------------------------------------------------
    def hook(ids: dict[str, str]) -> dict[str, Any]:
        return {"url": "http://127.0.0.1:9/hook", "secret": "s" * 32}

    add("notify", "POST", "/v1/webhooks", 201, "hq", "admin", body=hook)
    add("notify", "POST", "/v1/webhooks", 403, "vc_a", "tc_a", "po_a", "dc", "cc", "ranger_a",
        "pub1", body=hook)
    add("notify", "POST", "/v1/webhooks", 401, "none", body=hook)
    add("notify", "GET", "/v1/webhooks", 200, "hq", "admin")
    add("notify", "GET", "/v1/webhooks", 403, "vc_a", "dc", "pub1")
    add("notify", "GET", "/v1/webhooks/{webhook}/deliveries", 200, "hq")
    add("notify", "GET", "/v1/webhooks/{webhook}/deliveries", (403, 404), "vc_a", "dc", "cc",
        "pub1")
    add("notify", "GET", "/v1/webhooks/{webhook}/deliveries", 401, "none")
    add("notify", "GET", "/v1/inbox", 200, *sorted(PEOPLE.keys() - {"none", "vc_b", "tc_b"}))
    add("notify", "GET", "/v1/inbox", 200, "vc_b", "tc_b", hide=("{incident_a}",))
    add("notify", "GET", "/v1/inbox", 401, "none")
    add("notify", "POST", "/v1/inbox/{note_vc_a}/read", 404, "vc_b", "sv_a", "tc_a", "dc",
        "pub1", body=lambda ids: {})
    add("notify", "POST", "/v1/inbox/{note_vc_a}/read", 200, "vc_a", body=lambda ids: {})
    add("notify", "POST", "/v1/inbox/{note_vc_a}/read", 401, "none", body=lambda ids: {})
    add("notify", "GET", "/v1/alerts/stream", 401, "none")
    add("notify", "GET", "/v1/alerts/stream", (403, 404), "pub1")
    return out


ROWS = rows()


@pytest.fixture(scope="module")
async def seeded() -> AsyncIterator[tuple[HulinSystem, dict[str, str]]]:
    async with running_system() as system, httpx.AsyncClient(timeout=30) as client:
        await system.consumers_assigned()
        ids: dict[str, str] = {}
        for key, ranger in (("patrol_a", PEOPLE["ranger_a"]), ("patrol_b", PEOPLE["ranger_b"])):
            ids[key] = str(uuid.uuid4())
            r = await client.post(f"{system.url('patrol')}/v1/patrols", headers=bearer(ranger),
                                  json={"id": ids[key], "started_at": now_iso(600)})
            assert r.status_code == 201, r.text
        lat, lon = ORG.unit(A).point
        r = await client.post(
            f"{system.url('patrol')}/v1/patrols/{ids['patrol_a']}/points",
            headers=bearer(PEOPLE["ranger_a"]),
            json={"points": [{"seq": i, "t": now_iso(500 - 15 * i), "lat": lat + 0.0001 * i,
                              "lon": lon} for i in range(5)]},
        )
        assert r.status_code == 202, r.text
        for key, person, village, type_ in (
            ("report_a", PEOPLE["ranger_a"], A, "illegal_logging"),
            ("report_pub", "pub-1", B, "wildlife_damage"),
        ):
            ids[key] = str(uuid.uuid4())
            plat, plon = ORG.unit(village).point
            r = await client.post(
                f"{system.url('incidents')}/v1/reports", headers=bearer(person),
                json={"id": ids[key], "type": type_, "lat": plat, "lon": plon,
                      "observed_at": now_iso(120), "description": "seed"},
            )
            assert r.status_code == 202, r.text
        ids["incident_a"] = await incident_of(client, system.url("incidents"), ids["report_a"],
                                              PEOPLE["ranger_a"])
        ids["incident_b"] = await incident_of(client, system.url("incidents"),
                                              ids["report_pub"], "pub-1")
        r = await client.post(f"{system.url('notify')}/v1/webhooks", headers=bearer(PEOPLE["hq"]),
                              json={"url": "http://127.0.0.1:9/hook", "secret": "x" * 32})
        assert r.status_code == 201, r.text
        ids["webhook"] = str(r.json()["id"])

        async def note() -> str | None:
            r = await client.get(f"{system.url('notify')}/v1/inbox",
                                 headers=bearer(PEOPLE["vc_a"]))
            for item in _items(r.json()) if r.status_code == 200 else []:
                if item.get("incident_id") == ids["incident_a"]:
                    return str(item["id"])
            return None

        ids["note_vc_a"] = await wait_for(note, 30)
        yield system, ids


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    for key in ("notifications", "items", "incidents", "patrols", "alerts"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return list(body[key])
    return []


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_authorization(row: Row, seeded: tuple[HulinSystem, dict[str, str]]) -> None:
    system, ids = seeded
    path = row.path.format(**ids)
    person = PEOPLE[row.who]
    headers = bearer(person) if person else {}
    async with httpx.AsyncClient(timeout=30) as client:
        if path.endswith("/alerts/stream"):
            async with client.stream("GET", f"{system.url(row.service)}{path}",
                                     headers=headers) as r:
                status, text = r.status_code, ""
        else:
            r = await client.request(row.method, f"{system.url(row.service)}{path}",
                                     headers=headers,
                                     json=row.body(ids) if row.body else None)
            status, text = r.status_code, r.text
    assert status in row.expect, f"{row.id}: got {status} {text[:300]}"
    if 200 <= status < 300:
        for hidden in row.must_not_contain:
            value = hidden.format(**ids)
            assert value not in text, f"{row.id}: leaks {value}"
    if status in (401, 403, 404):
        body = r.json() if not path.endswith("/alerts/stream") else {"detail": "-"}
        assert body.get("detail"), f"{row.id}: a refusal must say why: {text[:200]}"


def test_the_matrix_covers_every_endpoint_of_the_contract() -> None:
    covered = {(r.method, r.path.split("?")[0]) for r in ROWS}
    contract = {
        ("POST", "/v1/patrols"), ("POST", "/v1/patrols/{patrol_a}/points"),
        ("POST", "/v1/patrols/{patrol_a}/finish"), ("GET", "/v1/patrols/{patrol_a}"),
        ("GET", "/v1/patrols/{patrol_a}/track"), ("GET", "/v1/patrols"),
        ("GET", "/v1/compliance"), ("GET", "/v1/positions"),
        ("POST", "/v1/reports"), ("POST", "/v1/hotspots"), ("GET", "/v1/reports/{report_a}"),
        ("GET", "/v1/incidents"), ("GET", "/v1/incidents/{incident_a}"),
        ("POST", "/v1/incidents/{incident_a}/ack"),
        ("POST", "/v1/incidents/{incident_a}/transition"),
        ("GET", "/v1/alerts/stream"), ("GET", "/v1/inbox"),
        ("POST", "/v1/inbox/{note_vc_a}/read"), ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks/{webhook}/deliveries"),
    }
    assert contract <= covered, contract - covered
    assert len(ROWS) > 150

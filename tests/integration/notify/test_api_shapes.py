"""What each notify route answers, field by field, as clients were written against it: the
response models may describe the answers but never drop a field. And `/openapi.json` says what
every JSON route returns."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.notify.conftest import VILLAGE, Notify, for_incident, opened, snapshot
from tests.support.kafka import wait_until

HQ = "hq-500114"
ALERT = {
    "id", "seq", "event_id", "event_type", "incident_id", "patrol_id", "kind", "alarm", "level",
    "type", "severity", "status", "village", "village_name", "township", "township_name", "lat",
    "lon", "reports", "title", "message", "at",
}  # fmt: skip
NOTIFICATION = {
    "id", "incident_id", "patrol_id", "recipient_id", "kind", "level", "reason", "type",
    "severity", "status", "village", "township", "title", "message", "reports", "updates",
    "created_at", "updated_at", "read", "read_at", "acknowledged", "acknowledged_at",
    "acknowledged_by",
}  # fmt: skip
WEBHOOK = {
    "id", "url", "types", "incident_types", "min_level", "unit", "active", "created_by",
    "created_at",
}  # fmt: skip
DELIVERY = {
    "id", "event_id", "event_type", "incident_id", "status", "attempts", "created_at",
    "next_try_at", "delivered_at", "dead_at", "last_error", "tries",
}  # fmt: skip
TRY = {"attempt", "at", "status_code", "ok", "error", "duration_ms"}


async def test_every_route_answers_every_field_it_did(notify: Notify) -> None:
    async with notify.client(HQ) as c:
        r = await c.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "secret": "s", "min_level": 0}
        )
        assert r.status_code == 201 and set(r.json()) == WEBHOOK
        sub: dict[str, Any] = r.json()
    snap = snapshot(incident_id=str(uuid.uuid4()))
    await notify.publisher.publish(opened(snap))
    chief = f"vc-{VILLAGE}"
    (note,) = await wait_until(lambda: for_incident(notify, chief, snap.id))
    assert set(note) == NOTIFICATION

    async with notify.client(chief) as c:
        inbox = (await c.get("/v1/inbox", params={"limit": 1})).json()
        read = (await c.post(f"/v1/inbox/{note['id']}/read")).json()
        alerts = (await c.get("/v1/alerts")).json()
        units = (await c.get("/v1/org/units")).json()
    assert set(inbox) == {"notifications", "items", "next", "count"}
    assert set(read) == NOTIFICATION and read["read"] is True
    assert set(alerts) == {"alerts", "last_id"} and set(alerts["alerts"][0]) == ALERT
    assert set(units) == {"type", "features"}
    feature = units["features"][0]
    assert set(feature) == {"type", "id", "geometry", "properties"}
    assert set(feature["properties"]) == {
        "code", "name", "name_en", "level", "parent", "label_point",
    }  # fmt: skip

    async def tried() -> Any:
        async with notify.client(HQ) as c:
            log = (await c.get(f"/v1/webhooks/{sub['id']}/deliveries")).json()
        return log if log["deliveries"] and log["deliveries"][0]["tries"] else None

    log = await wait_until(tried)
    assert set(log) == {"deliveries", "items", "next", "count"}
    assert set(log["deliveries"][0]) == DELIVERY and set(log["deliveries"][0]["tries"][0]) == TRY
    async with notify.client(HQ) as c:
        assert set((await c.get("/v1/webhooks")).json()) == {"webhooks"}
        assert set((await c.get(f"/v1/webhooks/{sub['id']}")).json()) == WEBHOOK
    async with notify.client() as c:
        assert set((await c.get("/console/config")).json()) == {
            "incidents_base_url", "dev_tokens", "district",
        }  # fmt: skip


async def test_openapi_describes_what_every_json_route_returns(notify: Notify) -> None:
    async with notify.client() as c:
        spec = (await c.get("/openapi.json")).json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            first = next(iter(op["responses"]))
            content = op["responses"][first].get("content", {})
            if first == "204":
                assert not content, (method, path, "a 204 carries no body")
            elif path == "/v1/alerts/stream":
                assert "text/event-stream" in content
            elif path == "/console":
                assert "text/html" in content
            elif path.startswith("/v1/") or path.startswith("/console/"):
                schema = content["application/json"]["schema"]
                assert "$ref" in schema, (method, path, schema)

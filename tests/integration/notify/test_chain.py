"""Incident events reach the right people: the village chain, the chiefs on escalation, the command
center's live stream; a redelivered event notifies once (real Kafka and FerretDB)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.events import (
    IncidentAcknowledged,
    IncidentAcknowledgedData,
    IncidentChangeData,
    IncidentUpdated,
    PatrolOverdue,
    PatrolOverdueData,
)
from shared.topics import NOTIFICATIONS
from tests.integration.notify.conftest import (
    CHAIN,
    DISTRICT,
    TOWNSHIP,
    VILLAGE,
    Notify,
    escalated,
    for_incident,
    opened,
    snapshot,
)
from tests.support.kafka import read_topic, wait_until

OTHER_VILLAGE = "500114002002"
NOBODY_ELSE = [
    f"rg-{VILLAGE}-1",  # the reporter
    f"rg-{VILLAGE}-2",
    f"vc-{OTHER_VILLAGE}",
    f"tc-{TOWNSHIP}",
    f"po-{TOWNSHIP}",
    f"dc-{DISTRICT}",
    f"hq-{DISTRICT}",
    f"cc-{DISTRICT}-1",
]


async def test_village_report_reaches_exactly_its_chain_and_the_command_center_stream(
    notify: Notify, sse: Any
) -> None:
    cc = await sse(f"{notify.url}/v1/alerts/stream", {"Authorization": notify.token("cc-500114-1")})
    other_vc = await sse(
        f"{notify.url}/v1/alerts/stream", {"Authorization": notify.token(f"vc-{OTHER_VILLAGE}")}
    )
    snap = snapshot()
    await notify.publisher.publish(opened(snap))

    alert = await cc.wait_for(lambda e: e["incident_id"] == snap.id)
    assert alert["kind"] == "new_incident" and alert["level"] == 0
    assert alert["village"] == VILLAGE and alert["type"] == "fire"
    assert "枫香村" in alert["title"] and "森林火情" in alert["title"]
    assert {
        "id",
        "incident_id",
        "kind",
        "level",
        "type",
        "severity",
        "village",
        "title",
        "at",
    } <= set(alert)

    for person in CHAIN:
        got = await wait_until(lambda p=person: for_incident(notify, p, snap.id))
        assert len(got) == 1 and got[0]["level"] == 0 and not got[0]["read"]
        assert "石溪镇枫香村" in got[0]["message"] and "签收" in got[0]["message"]
    for person in NOBODY_ELSE:
        assert await for_incident(notify, person, snap.id) == [], person
    assert not any(e.get("incident_id") == snap.id for e in other_vc.events)


async def test_escalation_reaches_township_then_district_chief(notify: Notify) -> None:
    snap = snapshot()
    await notify.publisher.publish(opened(snap))
    await wait_until(lambda: for_incident(notify, f"vc-{VILLAGE}", snap.id))
    assert await for_incident(notify, f"tc-{TOWNSHIP}", snap.id) == []

    await notify.publisher.publish(escalated(snap, 0, 1))
    tc = await wait_until(lambda: for_incident(notify, f"tc-{TOWNSHIP}", snap.id))
    assert [(x["kind"], x["level"]) for x in tc] == [("escalated", 1)]
    assert "乡镇林长" in tc[0]["title"]
    assert await for_incident(notify, f"dc-{DISTRICT}", snap.id) == []

    await notify.publisher.publish(escalated(snap, 1, 2))
    dc = await wait_until(lambda: for_incident(notify, f"dc-{DISTRICT}", snap.id))
    assert [(x["kind"], x["level"]) for x in dc] == [("escalated", 2)]
    # Lower levels are not told again; HQ is not reached yet.
    assert len(await for_incident(notify, f"tc-{TOWNSHIP}", snap.id)) == 1
    assert len(await for_incident(notify, f"vc-{VILLAGE}", snap.id)) == 1
    assert await for_incident(notify, f"hq-{DISTRICT}", snap.id) == []


async def test_opened_at_level_2_reaches_every_level_up_to_the_district_at_once(
    notify: Notify,
) -> None:
    snap = snapshot(level=2)
    await notify.publisher.publish(opened(snap))
    for person in [*CHAIN, f"tc-{TOWNSHIP}", f"dc-{DISTRICT}"]:
        await wait_until(lambda p=person: for_incident(notify, p, snap.id))
    assert await for_incident(notify, f"hq-{DISTRICT}", snap.id) == []


async def test_same_event_delivered_twice_notifies_once(notify: Notify) -> None:
    snap = snapshot()
    event = opened(snap)
    await notify.publisher.publish(event)
    await notify.publisher.publish(event)  # a redelivery: same event id
    await wait_until(lambda: for_incident(notify, f"vc-{VILLAGE}", snap.id))
    marker = snapshot()  # a later event on the same partition order is not guaranteed: wait on it
    await notify.publisher.publish(opened(marker))
    await wait_until(lambda: for_incident(notify, f"vc-{VILLAGE}", marker.id))
    await asyncio.sleep(0.5)
    for person in CHAIN:
        assert len(await for_incident(notify, person, snap.id)) == 1
    async with notify.client("cc-500114-1") as c:
        alerts = (await c.get("/v1/alerts")).json()["alerts"]
    assert len([a for a in alerts if a["incident_id"] == snap.id]) == 1
    created = await read_topic(notify.settings, NOTIFICATIONS, 6, timeout_s=5)
    mine = [e for e in created if e.data.incident_id == snap.id]  # type: ignore[attr-defined]
    assert sorted(e.data.recipient_id for e in mine) == sorted(CHAIN)  # type: ignore[attr-defined]


async def test_two_replicas_handling_the_same_event_notify_once(
    notify: Notify, settings_for: Any, token: Any
) -> None:
    from tests.integration.notify.conftest import start_notify

    snap = snapshot()
    event = opened(snap)
    second = start_notify(notify.settings, token)
    other = await second.__anext__()
    try:
        await asyncio.gather(
            notify.app.state.chain.handle([event]),
            other.app.state.chain.handle([event]),
        )
    finally:
        await second.aclose()
    for person in CHAIN:
        assert len(await for_incident(notify, person, snap.id)) == 1
    async with notify.client("cc-500114-1") as c:
        alerts = (await c.get("/v1/alerts")).json()["alerts"]
    assert len([a for a in alerts if a["incident_id"] == snap.id]) == 1


async def test_merged_report_adds_to_the_notification_instead_of_a_new_alarm(
    notify: Notify,
) -> None:
    snap = snapshot()
    await notify.publisher.publish(opened(snap))
    await wait_until(lambda: for_incident(notify, f"vc-{VILLAGE}", snap.id))
    merged = snap.model_copy(update={"report_ids": (*snap.report_ids, str(uuid.uuid4()))})
    update = IncidentUpdated.new(
        IncidentChangeData(incident=merged, reason="report_merged", report_id=merged.report_ids[1]),
        key=snap.id,
        producer="test",
    )
    await notify.publisher.publish(update)
    await notify.publisher.publish(update)  # redelivered: still one update

    async def merged_in() -> Any:
        got = await for_incident(notify, f"vc-{VILLAGE}", snap.id)
        return got if got and got[0]["reports"] == 2 else None

    got = await wait_until(merged_in)
    await asyncio.sleep(0.5)
    got = await for_incident(notify, f"vc-{VILLAGE}", snap.id)
    assert len(got) == 1
    assert got[0]["reports"] == 2 and len(got[0]["updates"]) == 1
    assert got[0]["updates"][0]["reason"] == "report_merged"
    assert "2 次" in got[0]["message"]


async def test_acknowledged_incident_marks_its_notifications_acknowledged(notify: Notify) -> None:
    snap = snapshot()
    await notify.publisher.publish(opened(snap))
    await wait_until(lambda: for_incident(notify, f"sv-{VILLAGE}", snap.id))
    acked = snap.model_copy(update={"status": "acknowledged"})
    await notify.publisher.publish(
        IncidentAcknowledged.new(
            IncidentAcknowledgedData(
                incident=acked, reason="ack", actor=f"vc-{VILLAGE}", at=datetime.now(UTC)
            ),
            key=snap.id,
            producer="test",
        )
    )

    async def all_acked() -> bool:
        for person in CHAIN:
            got = await for_incident(notify, person, snap.id)
            if not got or not got[0]["acknowledged"]:
                return False
        return True

    await wait_until(all_acked)
    got = await for_incident(notify, f"sv-{VILLAGE}", snap.id)
    assert got[0]["acknowledged_by"] == f"vc-{VILLAGE}" and got[0]["status"] == "acknowledged"


async def test_sos_reaches_the_district_chief_and_the_four_chaos_reach_township_police(
    notify: Notify,
) -> None:
    sos = snapshot(type_="sos", level=0)
    logging_ = snapshot(type_="illegal_logging", police=True)
    await notify.publisher.publish_many([opened(sos), opened(logging_)])
    for person in [*CHAIN, f"tc-{TOWNSHIP}", f"dc-{DISTRICT}"]:
        got = await wait_until(lambda p=person: for_incident(notify, p, sos.id))
        assert got[0]["kind"] == "sos"
    police = await wait_until(lambda: for_incident(notify, f"po-{TOWNSHIP}", logging_.id))
    assert police[0]["level"] == 0 and police[0]["reason"] == "police"
    assert await for_incident(notify, f"tc-{TOWNSHIP}", logging_.id) == []


async def test_patrol_overdue_alerts_the_village_chain(notify: Notify) -> None:
    patrol_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    await notify.publisher.publish(
        PatrolOverdue.new(
            PatrolOverdueData(
                patrol_id=patrol_id,
                ranger_id=f"rg-{VILLAGE}-2",
                village=VILLAGE,
                started_at=now,
                last_point_at=now,
                overdue_since=now,
            ),
            key=f"rg-{VILLAGE}-2",
            producer="test",
        )
    )
    for person in CHAIN:
        got = await wait_until(lambda p=person: _overdue(notify, p, patrol_id))
        assert got[0]["kind"] == "patrol_overdue" and "巡护失联" in got[0]["title"]
    assert await _overdue(notify, f"rg-{VILLAGE}-2", patrol_id) == []


async def _overdue(n: Notify, person: str, patrol_id: str) -> list[dict[str, Any]]:
    return [x for x in await n.inbox(person) if x["patrol_id"] == patrol_id]


async def test_neighbour_village_chain_hears_of_a_boundary_incident(notify: Notify) -> None:
    neighbour = "500114001002"
    snap = snapshot(neighbour_units=(neighbour,))
    await notify.publisher.publish(opened(snap))
    got = await wait_until(lambda: for_incident(notify, f"vc-{neighbour}", snap.id))
    assert got[0]["reason"] == "neighbour"


async def test_an_incidents_events_in_one_batch_apply_in_their_order(notify: Notify) -> None:
    """Opened, merged report, escalated and acknowledged arriving together (one batch of mixed
    types) and then all redelivered: the notifications see the merge and the ack exactly once."""
    snap = snapshot()
    merged = snap.model_copy(update={"report_ids": (*snap.report_ids, str(uuid.uuid4()))})
    update = IncidentUpdated.new(
        IncidentChangeData(incident=merged, reason="report_merged", report_id=merged.report_ids[1]),
        key=snap.id,
        producer="test",
    )
    acked = merged.model_copy(update={"status": "acknowledged", "escalation_level": 1})
    ack = IncidentAcknowledged.new(
        IncidentAcknowledgedData(
            incident=acked, reason="ack", actor=f"tc-{TOWNSHIP}", at=datetime.now(UTC)
        ),
        key=snap.id,
        producer="test",
    )
    events = [opened(snap), update, escalated(merged, 0, 1), ack]
    await notify.app.state.chain.handle(events)
    await notify.app.state.chain.handle(events)  # redelivered

    for person in CHAIN:
        got = await for_incident(notify, person, snap.id)
        assert len(got) == 1, person
        assert got[0]["reports"] == 2 and len(got[0]["updates"]) == 1
        assert got[0]["acknowledged"] and got[0]["acknowledged_by"] == f"tc-{TOWNSHIP}"
    tc = await for_incident(notify, f"tc-{TOWNSHIP}", snap.id)
    assert [(x["kind"], x["level"], x["acknowledged"]) for x in tc] == [("escalated", 1, True)]
    async with notify.client("cc-500114-1") as c:
        alerts = (await c.get("/v1/alerts")).json()["alerts"]
    mine = sorted(a["id"] for a in alerts if a["incident_id"] == snap.id)
    assert len(mine) == 4 and len(set(mine)) == 4

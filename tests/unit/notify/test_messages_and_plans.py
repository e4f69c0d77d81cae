"""Message rendering from the template files, language choice, idempotency keys, event plans and
the stream hub's fan-out (pure: no database, no broker)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notify.catalog import load_catalog
from services.notify.channels.sse import AlertHub
from services.notify.domain import alerts, dedup
from services.notify.domain.messages import KINDS, Catalog, CatalogError, pick_language, render
from shared.events import (
    IncidentAcknowledgedData,
    IncidentChangeData,
    IncidentEscalatedData,
    IncidentSnapshot,
    PatrolOverdueData,
)
from shared.org import OrgDirectory, load_org
from tests.fakes.notify_store import FakeAlertSequence

V = "500114001001"
NOW = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def org() -> OrgDirectory:
    return load_org(None)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def snap(**kw: Any) -> IncidentSnapshot:
    base: dict[str, Any] = dict(
        id="i1",
        type="fire",
        family="fire",
        status="reported",
        severity="large",
        verified=True,
        village=V,
        township=V[:9],
        district=V[:6],
        lat=29.43,
        lon=108.65,
        report_ids=("r1",),
        escalation_level=0,
        opened_at=NOW,
        observed_at=NOW,
        reporter_id=f"rg-{V}-1",
    )
    base.update(kw)
    return IncidentSnapshot(**base)


def test_every_kind_renders_in_chinese_and_english(catalog: Catalog, org: OrgDirectory) -> None:
    facts = {
        **alerts.incident_facts(org, snap()),
        "from_status": "acknowledged",
        "to_status": "responding",
        "ranger_name": "冉国",
    }
    for kind in KINDS:
        zh = render(catalog, "zh", kind, {**facts, "level": 1})
        en = render(catalog, "en", kind, {**facts, "level": 1})
        assert zh.title and zh.body and en.title and en.body
        assert "—" not in zh.title and "—" not in en.title


def test_a_chinese_message_says_what_where_how_serious_since_when_and_the_ask(
    catalog: Catalog, org: OrgDirectory
) -> None:
    msg = render(catalog, "zh", "new_incident", {**alerts.incident_facts(org, snap()), "level": 0})
    assert "森林火情" in msg.title and "石溪镇枫香村" in msg.title
    assert "较大" in msg.body and "03月15日 16:00" in msg.body  # 08:00 UTC is 16:00 in Beijing
    assert "签收" in msg.body


def test_unverified_incident_asks_the_chain_to_verify_naming_the_nearest_ranger(
    catalog: Catalog, org: OrgDirectory
) -> None:
    facts = alerts.incident_facts(org, snap(verified=False, nearest_ranger_id=f"rg-{V}-2"))
    msg = render(catalog, "zh", "new_incident", {**facts, "level": 0})
    assert "核实" in msg.body and org.person(f"rg-{V}-2").name in msg.body  # type: ignore[union-attr]


def test_missing_facts_render_as_a_dash_not_an_error(catalog: Catalog) -> None:
    msg = render(catalog, "zh", "escalated", {})
    assert msg.title


def test_a_catalog_missing_a_message_is_refused() -> None:
    with pytest.raises(CatalogError):
        Catalog({"zh": {"messages": {}, "labels": {}, "asks": {}, "formats": {}}})
    with pytest.raises(CatalogError):
        Catalog({"en": {}})


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "zh"),
        ("en", None, "en"),
        ("EN-us", "zh", "en"),
        ("fr", None, "zh"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "fr;q=1, en;q=0.5, zh;q=0.8", "zh"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en;q=0", "zh"),
    ],
)
def test_language_comes_from_the_query_then_accept_language_then_chinese(
    query: str | None, header: str | None, expected: str
) -> None:
    assert pick_language(query, header, {"zh", "en"}) == expected


def test_keys_and_ids_are_stable_across_replicas() -> None:
    key = dedup.notification_key("i1", "vc-1", "new_incident", 0)
    assert key == "i1|vc-1|new_incident|0"
    assert dedup.notification_id(key) == dedup.notification_id(key)
    assert dedup.delivery_id("s", "e") == dedup.delivery_id("s", "e") != dedup.delivery_id("s", "f")


def test_opened_plan_has_one_alarm_and_the_chain(org: OrgDirectory) -> None:
    plan = alerts.plan_opened("e1", IncidentChangeData(incident=snap()), NOW, org, alerts.Rules())
    assert plan.alert is not None and plan.alert.alarm and plan.alert.kind == "new_incident"
    assert {n.recipient_id for n in plan.notifications} == {f"vc-{V}", f"sv-{V}", f"in-{V}"}
    assert len({n.key for n in plan.notifications}) == 3


def test_sos_plan_reaches_level_2_even_if_opened_lower(org: OrgDirectory) -> None:
    plan = alerts.plan_opened(
        "e1", IncidentChangeData(incident=snap(type="sos")), NOW, org, alerts.Rules(sos_floor=2)
    )
    assert plan.alert is not None and plan.alert.kind == "sos" and plan.alert.level == 2
    assert {n.level for n in plan.notifications} == {0, 1, 2}


def test_escalation_that_did_not_climb_plans_nothing(org: OrgDirectory) -> None:
    data = IncidentEscalatedData(incident=snap(), from_level=1, to_level=1, at=NOW)
    assert alerts.plan_escalated("e", data, org, alerts.Rules()).alert is None


def test_merged_report_plans_an_update_and_no_new_notification(org: OrgDirectory) -> None:
    data = IncidentChangeData(
        incident=snap(report_ids=("r1", "r2")), reason="report_merged", report_id="r2"
    )
    plan = alerts.plan_updated("e2", data, NOW, org)
    assert plan.notifications == () and plan.alert is not None and not plan.alert.alarm
    assert plan.update is not None and plan.update["reports"] == 2


def test_acknowledged_plan_marks_notifications(org: OrgDirectory) -> None:
    data = IncidentAcknowledgedData(incident=snap(status="acknowledged"), actor=f"vc-{V}", at=NOW)
    plan = alerts.plan_acknowledged("e3", data, org)
    assert plan.acknowledged_by == f"vc-{V}" and plan.notifications == ()


def test_overdue_plan_has_no_incident_and_the_village_chain(org: OrgDirectory) -> None:
    data = PatrolOverdueData(
        patrol_id="p1",
        ranger_id=f"rg-{V}-1",
        village=V,
        started_at=NOW,
        last_point_at=None,
        overdue_since=NOW,
    )
    plan = alerts.plan_overdue("e4", data, NOW, org)
    assert plan.alert is not None and plan.alert.incident_id is None
    assert {n.recipient_id for n in plan.notifications} == {f"vc-{V}", f"sv-{V}", f"in-{V}"}


async def test_a_slow_stream_client_is_dropped_and_never_blocks_the_others() -> None:
    hub = AlertHub(
        FakeAlertSequence(),
        "500114",
        queue_size=2,
        gap_wait_s=1,
        poll_limit=10,
        seen_max=100,
        quiet_look_every=1,
    )
    slow = await hub.subscribe("500114")
    fast = await hub.subscribe("500114")
    other_village = await hub.subscribe("500114002001")
    received: list[int] = []

    def stored(seq: int, scope: tuple[str, ...]) -> alerts.Alert:
        draft = alerts.AlertDraft(
            event_id=f"e{seq}",
            event_type="incident.opened",
            kind="new_incident",
            subject_id="i",
            incident_id="i",
            level=0,
            type="fire",
            severity="general",
            status="reported",
            village=V,
            township=V[:9],
            district="500114",
            lat=None,
            lon=None,
            at=datetime.now(UTC),
            scope_units=scope,
            alarm=True,
            facts={},
        )
        return alerts.numbered(draft, seq, datetime.now(UTC))

    async def drain() -> None:
        while True:
            received.append((await fast.queue.get()).seq)

    task = asyncio.create_task(drain())
    for seq in range(1, 11):
        assert hub.offer(stored(seq, (V, V[:9], "500114")))
        await asyncio.sleep(0)  # the fast client reads as it comes; the slow one never does
    await asyncio.sleep(0)
    task.cancel()
    assert slow.dropped.is_set() and slow not in hub.subscribers
    assert received == list(range(1, 11))
    assert other_village.queue.empty() and not other_village.dropped.is_set()
    assert not hub.offer(stored(3, ()))  # seen: once only

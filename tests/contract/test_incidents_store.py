"""The incidents store port's contract (services/incidents/store.py): the same tests on the
in-memory fake and on the MongoDB adapter over FerretDB, so neither can drift from what the use
cases rely on — a version committed once, newest-opened-first pages with cursors stable under
inserts, the outbox kept until published, duplicate reports and links as success."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.incidents.domain.incident import Incident, ReportFacts, Status
from services.incidents.repository import IncidentsRepository
from services.incidents.repository.store import MongoIncidentStore
from services.incidents.settings import IncidentsSettings
from services.incidents.store import CellEntry, Change, IncidentStore, Position
from shared import db as dbmod
from shared.cursors import BadCursor
from shared.policy import Policy
from tests.fakes.incidents_store import InMemoryIncidentStore
from tests.unit.incidents.conftest import opened, report

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
VILLAGE, OTHER_VILLAGE = "500114001001", "500114001002"
TOWNSHIP = "500114001"


@pytest.fixture(params=["fake", "ferretdb"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IncidentStore]:
    if request.param == "fake":
        yield InMemoryIncidentStore()
        return
    # The real store only (its own database, dropped afterwards): no Kafka topics to clean.
    request.getfixturevalue("infra")
    isolation: dict[str, str] = request.getfixturevalue("isolation")
    s = IncidentsSettings(**isolation)  # type: ignore[arg-type]
    client = dbmod.connect(s)
    try:
        yield MongoIncidentStore(IncidentsRepository(dbmod.database(client, s), shards=2))
    finally:
        await client.drop_database(s.database_name)
        await client.close()


def incident(
    n: int,
    *,
    village: str = VILLAGE,
    status: Status = Status.REPORTED,
    type_: str = "fire",
    hours: float = 0,
    version: int = 1,
) -> Incident:
    at = T0 + timedelta(hours=hours)
    base = opened(report(type_, id_=f"r-{n}", at=at), Policy(), now=at, village=village)
    return base.model_copy(
        update={"id": f"inc-{n:03d}", "status": status, "version": version, "updated_at": at}
    )


def change(i: Incident, base: int = 0, timer_at: datetime | None = None) -> Change:
    return Change(base, i, (), timer_at)


def ids(incidents: list[Incident]) -> list[str]:
    return [i.id for i in incidents]


async def page_ids(store: IncidentStore, unit: str, **kw: object) -> list[str]:
    args: dict[str, object] = {"status": None, "type_": None, "since": None, "limit": 100}
    args.update(kw)
    page = await store.incidents_in(unit, **args)  # type: ignore[arg-type]
    return ids(page.incidents)


async def test_a_committed_incident_reads_back_as_it_was_written(store: IncidentStore) -> None:
    i = incident(1)
    assert await store.commit(change(i), at=T0)
    assert await store.get(i.id) == i
    assert await store.get("absent") is None


async def test_a_version_is_committed_once_and_the_loser_is_told(store: IncidentStore) -> None:
    i = incident(1)
    assert await store.commit(change(i), at=T0)
    a = i.model_copy(update={"version": 2, "escalation_level": 1})
    b = i.model_copy(update={"version": 2, "escalation_level": 2})
    assert await store.commit(change(a, base=1), at=T0)
    assert not await store.commit(change(b, base=1), at=T0)
    stored = await store.get(i.id)
    assert stored is not None and stored.escalation_level == 1
    # a redelivered opening loses too: the incident stays as the winner left it
    assert await store.commit_many([change(i)], at=T0) == set()


async def test_commit_many_stores_each_and_names_the_changes_it_won(store: IncidentStore) -> None:
    first = incident(1)
    await store.commit(change(first), at=T0)
    fresh = [incident(n) for n in (2, 3)]
    won = await store.commit_many([change(first), *(change(i) for i in fresh)], at=T0)
    assert won == {"inc-002:0", "inc-003:0"}
    for i in fresh:
        assert await store.get(i.id) == i


async def test_pages_run_newest_opened_first_over_the_unit_and_below(
    store: IncidentStore,
) -> None:
    for n in range(5):
        village = VILLAGE if n % 2 == 0 else OTHER_VILLAGE
        await store.commit(change(incident(n, village=village, hours=n)), at=T0)
    assert await page_ids(store, VILLAGE) == ["inc-004", "inc-002", "inc-000"]
    assert await page_ids(store, TOWNSHIP) == [f"inc-{n:03d}" for n in (4, 3, 2, 1, 0)]
    assert await page_ids(store, "500114002001") == []


async def test_a_cursor_continues_where_its_page_ended_despite_newer_inserts(
    store: IncidentStore,
) -> None:
    for n in range(5):
        await store.commit(change(incident(n, hours=n)), at=T0)
    first = await store.incidents_in(TOWNSHIP, status=None, type_=None, since=None, limit=2)
    assert ids(first.incidents) == ["inc-004", "inc-003"] and first.next is not None
    await store.commit(change(incident(9, hours=9)), at=T0)  # newer than every page
    rest = await store.incidents_in(
        TOWNSHIP, status=None, type_=None, since=None, limit=2, cursor=first.next
    )
    assert ids(rest.incidents) == ["inc-002", "inc-001"] and rest.next is not None
    last = await store.incidents_in(
        TOWNSHIP, status=None, type_=None, since=None, limit=2, cursor=rest.next
    )
    assert ids(last.incidents) == ["inc-000"] and last.next is None


async def test_status_type_and_since_narrow_a_page_and_follow_changes(
    store: IncidentStore,
) -> None:
    a, b = incident(1, hours=1), incident(2, type_="pest", hours=2)
    await store.commit_many([change(a), change(b)], at=T0)
    closed = a.model_copy(update={"version": 2, "status": Status.CLOSED})
    assert await store.commit(change(closed, base=1), at=T0)
    assert await page_ids(store, VILLAGE, status=Status.CLOSED) == ["inc-001"]
    assert await page_ids(store, VILLAGE, status=Status.REPORTED) == ["inc-002"]
    assert await page_ids(store, VILLAGE, type_="pest") == ["inc-002"]
    assert await page_ids(store, TOWNSHIP, type_="fire") == ["inc-001"]
    assert await page_ids(store, VILLAGE, since=T0 + timedelta(hours=1, minutes=30)) == ["inc-002"]
    assert await page_ids(store, VILLAGE, status=Status.REPORTED, type_="fire") == []
    assert await page_ids(store, VILLAGE, status=Status.CLOSED, type_="fire") == ["inc-001"]
    listed = await store.incidents_in(VILLAGE, status=None, type_=None, since=None, limit=1)
    assert listed.incidents[0].timeline == ()


async def test_a_cursor_of_another_list_is_refused(store: IncidentStore) -> None:
    for n in range(3):
        await store.commit(change(incident(n, hours=n)), at=T0)
    page = await store.incidents_in(VILLAGE, status=None, type_=None, since=None, limit=1)
    assert page.next is not None
    with pytest.raises(BadCursor):
        await store.incidents_in(
            OTHER_VILLAGE, status=None, type_=None, since=None, limit=1, cursor=page.next
        )
    with pytest.raises(BadCursor):
        await store.incidents_in(
            VILLAGE, status=None, type_="pest", since=None, limit=1, cursor=page.next
        )


async def test_timers_follow_the_latest_version(store: IncidentStore) -> None:
    i = incident(1)
    await store.commit(change(i, timer_at=T0 + timedelta(minutes=5)), at=T0)
    assert await store.due_times() == [(i.id, T0 + timedelta(minutes=5))]
    every = [t for s in range(store.timer_shards) for t in await store.due_times(s)]
    assert every == [(i.id, T0 + timedelta(minutes=5))]
    acked = i.model_copy(update={"version": 2, "status": Status.ACKNOWLEDGED})
    await store.commit(change(acked, base=1), at=T0)
    assert await store.due_times() == []


async def test_the_outbox_holds_a_commit_until_it_is_published(store: IncidentStore) -> None:
    i = incident(1)
    await store.commit(change(i), at=T0)
    [pending] = await store.pending(before=T0, limit=10)
    assert (pending.change_id, pending.base, pending.incident) == ("inc-001:0", 0, i)
    assert await store.is_claimed(pending.change_id)
    assert await store.pending(before=T0 - timedelta(seconds=1), limit=10) == []
    await store.forget_published([pending.change_id])
    assert await store.pending(before=T0, limit=10) == []
    # the claim outlives the outbox record, until swept
    assert await store.is_claimed("inc-001:0")
    assert await store.sweep_claims(before=T0) == 1
    assert not await store.is_claimed("inc-001:0")


async def test_a_replay_leaves_an_incident_stored_at_or_past_its_version(
    store: IncidentStore,
) -> None:
    """A replay writes only an incident its writer never stored (the relay's crash case, on the
    real store in tests/integration/incidents/test_change_claims.py)."""
    i = incident(1)
    await store.commit(change(i), at=T0)
    later = i.model_copy(update={"version": 2, "escalation_level": 1})
    await store.commit(change(later, base=1), at=T0 + timedelta(seconds=1))
    opening, climb = await store.pending(before=T0 + timedelta(seconds=1), limit=10)
    assert (opening.base, climb.base) == (0, 1)  # oldest first
    assert not await store.replay(opening)
    assert not await store.replay(climb)
    assert await store.get(i.id) == later


async def test_merge_cells_file_and_forget_their_members(store: IncidentStore) -> None:
    await store.file_in_cells(
        [CellEntry("fire:1:1", "inc-1", 29.4, 108.6), CellEntry("fire:1:1", "inc-2", 29.5, 108.7)]
    )
    found = await store.cells_near(["fire:1:1", "fire:9:9"])
    assert sorted(e.incident_id for e in found["fire:1:1"]) == ["inc-1", "inc-2"]
    assert found["fire:9:9"] == []
    await store.remove_from_cell("fire:1:1", "inc-1")
    [left] = (await store.cells_near(["fire:1:1"]))["fire:1:1"]
    assert left == CellEntry("fire:1:1", "inc-2", 29.5, 108.7)


async def test_a_report_is_stored_once_the_first_copy_wins(store: IncidentStore) -> None:
    first: ReportFacts = report("fire", id_="r-1", at=T0)
    other = report("smoke", id_="r-1", at=T0)
    assert await store.insert_reports([first]) == {"r-1"}
    assert await store.insert_reports([other, report("pest", id_="r-2", at=T0)]) == {"r-2"}
    assert await store.report("r-1") == first
    assert set(await store.reports(["r-1", "r-2", "r-9"])) == {"r-1", "r-2"}
    assert await store.report("r-9") is None


async def test_a_reports_first_link_stays(store: IncidentStore) -> None:
    await store.link_reports([("r-1", "inc-1")], at=T0)
    await store.link_reports([("r-1", "inc-2"), ("r-2", "inc-2")], at=T0)
    assert await store.incident_of("r-1") == "inc-1"
    assert await store.incident_of("r-2") == "inc-2"
    assert await store.incident_of("r-9") is None


async def test_positions_keep_the_latest_and_end_with_their_patrol(store: IncidentStore) -> None:
    p1 = Position("rg-1", "pa-1", VILLAGE, 29.4, 108.6, T0 + timedelta(minutes=1))
    await store.save_position(p1)
    await store.save_position(Position("rg-1", "pa-1", VILLAGE, 29.0, 108.0, T0))  # older
    assert await store.positions_on_patrol() == [p1]
    await store.end_patrol("rg-1", "pa-other")  # another patrol's end changes nothing
    assert await store.positions_on_patrol() == [p1]
    await store.end_patrol("rg-1", "pa-1")
    assert await store.positions_on_patrol() == []

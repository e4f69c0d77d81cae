"""Issue 15's measure: each read endpoint on a young store (a full page for every reader), and
again after a year's history is preloaded, in the same run, same store, same process.

Starts the three services as subprocesses (own database, topic prefix and ports), fills their
stores through their own write paths, publishing nowhere — notify's incident handlers (alerts,
inboxes, the webhook outbox of an HQ subscription; its deliveries then delivered through the
deliveries adapter, as the dispatcher records them), the incidents store's staged, claimed and
listed commits, the patrol use cases (start, the points consumer's fix storage, finish) — and
times each read over HTTP as its user makes it: a village's, a township's and the district's
incidents, one incident, a village chief's and a district chief's inbox (all and unread), the
command center's alerts, a ranger's and a village's patrols, a village's compliance for a month,
the positions, the HQ webhook's deliveries. It also times one pass of each periodic loop through
its use case or adapter, in this process on the same store: the timer reload (all, then one
shard), the overdue scan, the webhook sweep's reads, the alert numbering of a new process. Then
it preloads a district-year (`--incidents`, `--notifications`, `--alerts`, `--patrols`,
`--deliveries`) and times the same again.

    flock /tmp/hulin-bench.lock .venv/bin/python -m bench.history_bench [--incidents 20000]
    # a quick look: --incidents 2000 --notifications 20000 --alerts 10000 --patrols 3000 \
    #               --deliveries 1000

Prints a Markdown table (p50/p99 in ms, empty and preloaded, their ratio, against the targets:
p99 ≤ 100 ms and ≤ 1.5× young; loops: the same growth bound, as "independent of closed
history") and writes it to bench/results/history.json. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    System,
    delete_topics,
    exit_on_sigterm,
    percentile,
    results_path,
    write_section,
)
from bench.notify_bench import Incidents
from shared.auth import issue_token
from shared.org import Level, OrgDirectory, Person, Role, load_org
from shared.settings import Settings

P99_CEILING_MS = 100.0
GROWTH_CEILING = 1.5


STATUS_MIX = ("closed",) * 14 + ("false_alarm", "resolved", "responding", "acknowledged")


async def preload_incidents(
    settings: Settings, org: OrgDirectory, n: int, seed: int
) -> tuple[str, str]:
    """`n` incidents of the past year through the incidents store's own write path (staged,
    claimed, written, listed; then published as the relay would), nearly all closed, spread over
    the district's villages, each from 3 reports stored and linked to it as the reports consumer
    does. Returns the id of one incident and of one report."""
    from services.incidents.domain.escalation import next_timer_at
    from services.incidents.domain.incident import Incident, ReportFacts
    from services.incidents.repository import IncidentsRepository, indexes_for
    from services.incidents.repository.mapping import to_doc
    from services.incidents.repository.store import MongoIncidentStore
    from services.incidents.settings import IncidentsSettings
    from shared.db import connect, database, ensure_indexes
    from shared.policy import load_policy

    rng = random.Random(seed)
    policy = load_policy(settings.policy_file)
    villages = sorted(u.code for u in org.units.values() if u.level is Level.VILLAGE)
    client = connect(settings)
    db = database(client, settings)
    shards = IncidentsSettings().incident_shards
    await ensure_indexes(db, indexes_for(shards))
    repo = IncidentsRepository(db, shards=shards)  # as the service
    now = datetime.now(UTC)
    store = MongoIncidentStore(repo)
    rangers = {
        v: sorted(p.id for p in org.people_in(v, Role.RANGER)) or [f"rg-{v}-1"] for v in villages
    }
    some = ("", "")
    try:
        for start in range(0, n, 200):
            docs = []
            batch_reports: list[Any] = []
            links: list[tuple[str, str]] = []
            for _ in range(min(200, n - start)):
                village = rng.choice(villages)
                at = now - timedelta(seconds=rng.uniform(3600, 365 * 86400))
                kind = rng.choice(("fire", "pest", "illegal_logging"))
                reporter = rangers[village][rng.randrange(len(rangers[village]))]
                reports = [
                    ReportFacts(
                        id=str(uuid.uuid4()),
                        type=kind,
                        lat=29.4,
                        lon=108.6,
                        observed_at=at + timedelta(minutes=k),
                        received_at=at + timedelta(minutes=k, seconds=5),
                        reporter_id=reporter,
                        reporter_role="ranger",
                        source="app",
                        village=village,
                        township=village[:9],
                        district=village[:6],
                        description="history bench",
                    )
                    for k in range(3)
                ]
                incident = Incident(
                    id=str(uuid.uuid4()),
                    type=kind,
                    family="other",
                    status=rng.choice(STATUS_MIX),
                    verified=True,
                    village=village,
                    township=village[:9],
                    district=village[:6],
                    lat=29.4,
                    lon=108.6,
                    report_ids=tuple(r.id for r in reports),
                    level_reached_at=at,
                    opened_at=at,
                    observed_at=at,
                    last_observed_at=at,
                    updated_at=at + timedelta(hours=2),
                    version=1,
                )
                docs.append(to_doc(incident, next_timer_at(policy, incident)))
                batch_reports += reports
                links += [(r.id, incident.id) for r in reports]
            # the reports consumer's writes: the reports, then each one's link to its incident
            await store.insert_reports(batch_reports)
            claimed = await repo.commit_many([(0, d, []) for d in docs], at=now)
            await repo.mark_published(claimed)
            await store.link_reports(links, at=now)
            some = (docs[0]["_id"], batch_reports[0].id)
    finally:
        await client.close()
    return some


class NoPublisher:
    async def publish(self, event: Any, *, key: str | None = None) -> None: ...
    async def publish_many(self, events: Any, *, key: str | None = None) -> None: ...


class Switchable:
    """Notify's subscriptions as the outbox sees them, switched off once the webhook has its
    `--deliveries` (the rest of the year's alerts go to no webhook)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.on = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def in_units(self, units: Any) -> list[Any]:
        return await self.inner.in_units(units) if self.on else []

    async def active(self) -> list[Any]:
        return await self.inner.active() if self.on else []


WEBHOOK_ID = "wh-history-bench"


class NotifyPreload:
    """Notify's store filled through its own event path (`chain_notifications`, publishing
    nowhere): incident events until the inboxes hold `notifications` and the alerts `alerts`;
    the HQ webhook's deliveries until it has `deliveries`, each then delivered (one try, its
    outcome, out of the open set: what the dispatcher writes for a 204)."""

    def __init__(self, settings: Settings, org: OrgDirectory, receiver_url: str) -> None:
        self.settings, self.org, self.receiver_url = settings, org, receiver_url
        self.gen = Incidents(org)

    async def __aenter__(self) -> NotifyPreload:
        from services.notify.app import chain_notifications
        from services.notify.catalog import load_catalog
        from services.notify.domain.delivery_queue import DeliveryQueue
        from services.notify.domain.webhooks import Subscription
        from services.notify.repository import COLLECTIONS, mongo_store
        from services.notify.settings import NotifySettings
        from services.notify.store import NotifyStore, Webhook
        from shared.clock import SystemClock
        from shared.db import connect, database, ensure_indexes
        from shared.policy import load_policy

        self.client = connect(self.settings)
        self.db = database(self.client, self.settings)
        await ensure_indexes(self.db, COLLECTIONS)
        store = mongo_store(self.db)
        if await store.subscriptions.get(WEBHOOK_ID) is None:
            hq = next(p for p in self.org.people.values() if p.role is Role.HQ)
            await store.subscriptions.add(
                Webhook(
                    rule=Subscription(
                        id=WEBHOOK_ID,
                        url=self.receiver_url,
                        types=None,
                        min_level=0,
                        unit=self.org.district.code,
                    ),
                    secret="history-bench-secret-0123456789abcdef",
                    active=True,
                    created_by=hq.id,
                    created_at=datetime.now(UTC),
                )
            )
        self.subs = Switchable(store.subscriptions)
        self.store = NotifyStore(
            inbox=store.inbox,
            alerts=store.alerts,
            subscriptions=self.subs,  # type: ignore[arg-type]
            deliveries=store.deliveries,
        )
        notify = NotifySettings(
            org_file=self.settings.org_file, policy_file=self.settings.policy_file
        )
        self.chain = chain_notifications(
            store=self.store,
            org=self.org,
            policy=load_policy(self.settings.policy_file),
            catalog=load_catalog(),
            publisher=NoPublisher(),  # type: ignore[arg-type]
            clock=SystemClock(),
            settings=notify,
            queue=DeliveryQueue(remember_done=notify.webhook_done_remembered),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def counts(self) -> dict[str, int]:
        from services.notify.repository import alerts, deliveries, inbox

        out = {}
        for name, coll in (
            ("notifications", inbox.NOTIFICATIONS),
            ("alerts", alerts.ALERTS),
            ("deliveries", deliveries.DELIVERIES),
        ):
            out[name] = await self.db[coll].estimated_document_count()
        return out

    async def deliver_open(self) -> int:
        """Every open delivery delivered, as the dispatcher records a try answered 204."""
        from services.notify.domain.deliveries import DELIVERED, Outcome, Try

        deliveries = self.store.deliveries
        heads = await deliveries.open()
        now = datetime.now(UTC)

        async def one(d: Any) -> None:
            await deliveries.record_try(
                Try(d.id, d.subscription_id, 1, now, now, True, DELIVERED, 204, None, 12.0)
            )
            await deliveries.record_outcome(Outcome(d.id, d.subscription_id, DELIVERED, now, 1))

        for start in range(0, len(heads), 100):
            await asyncio.gather(*(one(d) for d in heads[start : start + 100]))
        await deliveries.close([d.id for d in heads])
        return len(heads)

    async def fill(self, *, notifications: int, alerts: int, deliveries: int) -> dict[str, int]:
        """Until the store holds at least these many (counted from what it holds now)."""
        base = await self.counts()
        want = {
            "notifications": base["notifications"] + notifications,
            "alerts": base["alerts"] + alerts,
            "deliveries": base["deliveries"] + deliveries,
        }
        t0 = time.perf_counter()
        while True:
            have = await self.counts()
            self.subs.on = have["deliveries"] < want["deliveries"]
            if not self.subs.on and all(have[k] >= want[k] for k in ("notifications", "alerts")):
                break
            # first incidents opened, then their lives (merges, escalations, acknowledgements)
            batch = [self.gen.next() for _ in range(500)]
            await self.chain.handle(batch)  # type: ignore[arg-type]
            await self.deliver_open()
        have = await self.counts()
        print(
            f"notify preload: {have} in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        return {k: have[k] - base[k] for k in have}


class PatrolPreload:
    """Patrols through the patrol use cases (publishing nowhere): started by a village's ranger,
    their fixes stored as the points consumer stores them, finished."""

    def __init__(self, settings: Settings, org: OrgDirectory, seed: int) -> None:
        self.settings, self.org = settings, org
        self.rng = random.Random(seed)
        self.rangers = sorted(
            (p for p in org.people.values() if p.role is Role.RANGER), key=lambda p: p.id
        )

    async def __aenter__(self) -> PatrolPreload:
        from services.patrol.repository import INDEXES, MongoPatrolStore
        from services.patrol.settings import PatrolSettings
        from services.patrol.usecases.flows import PatrolFlows
        from services.patrol.usecases.storing import FixStorage
        from shared.clock import SystemClock
        from shared.db import connect, database, ensure_indexes
        from shared.policy import load_policy

        self.client = connect(self.settings)
        self.db = database(self.client, self.settings)
        await ensure_indexes(self.db, INDEXES)
        store = MongoPatrolStore(self.db)
        policy = load_policy(self.settings.policy_file)
        ps = PatrolSettings(org_file=self.settings.org_file, policy_file=self.settings.policy_file)
        pub = NoPublisher()
        self.flows = PatrolFlows(
            store=store,
            publisher=pub,  # type: ignore[arg-type]
            clock=SystemClock(),
            org=self.org,
            policy=policy,
            settings=ps,
        )
        self.storing = FixStorage(
            store=store,
            publisher=pub,  # type: ignore[arg-type]
            org=self.org,
            policy=policy,
            settings=ps,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def one(self, ranger: Person, started_at: datetime, fixes: int) -> None:
        from services.patrol.domain.track import Fix
        from services.patrol.usecases.storing import ReceivedFixes

        pid = str(uuid.uuid4())
        point = self.org.unit(ranger.unit).boundary.representative_point()
        lat, lon = point.y, point.x
        t0 = started_at.timestamp()
        track = []
        for i in range(fixes):
            lat += self.rng.uniform(-0.0002, 0.0003)
            lon += self.rng.uniform(-0.0002, 0.0003)
            track.append(Fix(i, t0 + 60 * (i + 1), round(lat, 6), round(lon, 6), 8.0))
        ended = started_at + timedelta(seconds=60 * (fixes + 1))
        await self.flows.start(ranger, pid, started_at)
        for start in range(0, fixes, 200):  # the app's uploads
            batch = track[start : start + 200]
            received = datetime.fromtimestamp(batch[-1].t + 5, UTC)
            await self.storing.store_batches([ReceivedFixes(pid, received, batch)])
        await self.flows.finish(ranger, pid, ended)

    async def fill(self, n: int, fixes: int, *, days: float = 365.0) -> float:
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        for start in range(0, n, 40):
            jobs = []
            for _ in range(min(40, n - start)):
                ranger = self.rng.choice(self.rangers)
                at = now - timedelta(seconds=self.rng.uniform(3 * 3600, days * 86400))
                jobs.append(self.one(ranger, at, fixes))
            await asyncio.gather(*jobs)
        took = time.perf_counter() - t0
        print(f"patrol preload: {n:,} patrols of {fixes} fixes in {took:.0f} s", flush=True)
        return took


Read = tuple[str, str, dict[str, Any], str]  # service, path, query, bearer token


def readers(org: OrgDirectory, settings: Settings, one: tuple[str, str]) -> dict[str, Read]:
    """Each read as its user makes it."""

    def first(role: Role) -> Person:
        return sorted((p for p in org.people.values() if p.role is role), key=lambda p: p.id)[0]

    def token(role: Role) -> str:
        return issue_token(first(role).id, settings)

    village, township = first(Role.VILLAGE_CHIEF).unit, first(Role.TOWNSHIP_CHIEF).unit
    vc, tc, cc = token(Role.VILLAGE_CHIEF), token(Role.TOWNSHIP_CHIEF), token(Role.COMMAND_CENTER)
    ranger = sorted(
        (p for p in org.people.values() if p.role is Role.RANGER and p.unit == village),
        key=lambda p: p.id,
    )[0]
    today = datetime.now(UTC).date()
    month_end = today.replace(day=1) - timedelta(days=1)  # the last full month
    month = {"from": month_end.replace(day=1).isoformat(), "to": month_end.isoformat()}
    a_month = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    return {
        "incidents of a village": (
            "incidents",
            "/v1/incidents",
            {"unit": village, "limit": 50},
            vc,
        ),
        "reported incidents of a township": (
            "incidents",
            "/v1/incidents",
            {"unit": township, "status": "reported", "limit": 50},
            tc,
        ),
        "incidents of the district": ("incidents", "/v1/incidents", {"limit": 50}, cc),
        "fires of the district": ("incidents", "/v1/incidents", {"type": "fire", "limit": 50}, cc),
        "one incident": ("incidents", f"/v1/incidents/{one[0]}", {}, cc),
        "one report": ("incidents", f"/v1/reports/{one[1]}", {}, cc),
        "inbox, village chief": ("notify", "/v1/inbox", {"limit": 20}, vc),
        "inbox unread, village chief": ("notify", "/v1/inbox", {"limit": 20, "unread": "true"}, vc),
        "inbox, district chief": ("notify", "/v1/inbox", {"limit": 20}, token(Role.DISTRICT_CHIEF)),
        "alerts, command center": ("notify", "/v1/alerts", {"limit": 100}, cc),
        "webhook deliveries, HQ": (
            "notify",
            f"/v1/webhooks/{WEBHOOK_ID}/deliveries",
            {"limit": 50},
            token(Role.HQ),
        ),
        "patrols of a ranger, last 30 days": (
            "patrol",
            "/v1/patrols",
            {"ranger_id": ranger.id, "from": a_month},
            vc,
        ),
        "patrols of a village, last 30 days": (
            "patrol",
            "/v1/patrols",
            {"unit": village, "from": a_month},
            vc,
        ),
        "compliance of a village, last month": (
            "patrol",
            "/v1/compliance",
            {"unit": village, **month},
            vc,
        ),
        "positions, township": ("patrol", "/v1/positions", {"unit": township}, tc),
    }


async def measure(
    system: System, reads: dict[str, Read], reps: int
) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    async with httpx.AsyncClient(timeout=60) as client:
        for name, (service, path, params, tok) in reads.items():
            times: list[float] = []
            for i in range(reps + 2):
                t0 = time.perf_counter()
                r = await client.get(
                    system.url(service) + path,
                    params=params,
                    headers={"Authorization": f"Bearer {tok}"},
                )
                elapsed = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
                if i >= 2:  # the first two warm the caches and the connection
                    times.append(elapsed)
            out[name] = {"p50": percentile(times, 50), "p99": percentile(times, 99)}
    return out


async def loop_costs(
    settings: dict[str, Settings], org: OrgDirectory, reps: int
) -> dict[str, dict[str, float | None]]:
    """One pass of each periodic loop, `reps` times, through its use case or adapter on the
    service's store (fresh objects each time: what a process that just started pays)."""
    from services.incidents.repository import IncidentsRepository
    from services.incidents.repository.store import MongoIncidentStore
    from services.incidents.settings import IncidentsSettings
    from services.incidents.usecases.timers import TimerIndex, TimerRescan
    from services.notify.domain.deliveries import DEAD
    from services.notify.repository.alerts import MongoAlertSequence
    from services.notify.repository.deliveries import MongoDeliveries
    from services.patrol.repository import MongoPatrolStore
    from services.patrol.settings import PatrolSettings
    from services.patrol.usecases.overdue import OverdueScan
    from shared.clock import SystemClock
    from shared.db import connect, database
    from shared.policy import load_policy

    policy = load_policy(settings["patrol"].policy_file)
    clients = {name: connect(s) for name, s in settings.items()}
    dbs = {name: database(clients[name], s) for name, s in settings.items()}
    shards = IncidentsSettings().incident_shards

    async def timer_reload_all() -> None:
        await TimerRescan(
            store=MongoIncidentStore(IncidentsRepository(dbs["incidents"], shards=shards)),
            timers=TimerIndex(),
        ).rescan()

    async def timer_reload_shard() -> None:
        rescan = TimerRescan(
            store=MongoIncidentStore(IncidentsRepository(dbs["incidents"], shards=shards)),
            timers=TimerIndex(),
        )
        rescan._next_shard = 0  # a periodic pass: one shard  # noqa: SLF001
        await rescan.rescan()

    async def overdue_scan() -> None:
        await OverdueScan(
            store=MongoPatrolStore(dbs["patrol"]),
            publisher=NoPublisher(),  # type: ignore[arg-type]
            clock=SystemClock(),
            policy=policy,
            settings=PatrolSettings(),
        ).scan_overdue()

    async def webhook_sweep() -> None:  # the sweep's reads (WebhookDispatcher.sweep)
        deliveries = MongoDeliveries(dbs["notify"])
        heads = await deliveries.open()
        outcomes = await deliveries.outcomes_of([d.id for d in heads])
        await deliveries.announced_among([i for i, o in outcomes.items() if o.status == DEAD])

    async def alert_numbering() -> None:  # a new process finds the district's highest number
        await MongoAlertSequence(dbs["notify"]).highest(org.district.code)

    loops: dict[str, Callable[[], Awaitable[None]]] = {
        "loop: timer reload, all (start-up)": timer_reload_all,
        "loop: timer reload, one shard": timer_reload_shard,
        "loop: overdue scan": overdue_scan,
        "loop: webhook sweep (reads)": webhook_sweep,
        "loop: alert numbering (new process)": alert_numbering,
    }
    out: dict[str, dict[str, float | None]] = {}
    try:
        for name, loop in loops.items():
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                await loop()
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = {"p50": percentile(times, 50), "p99": percentile(times, 99)}
    finally:
        for c in clients.values():
            await c.close()
    return out


def table(
    empty: dict[str, dict[str, float | None]],
    full: dict[str, dict[str, float | None]],
    label: str,
) -> list[dict[str, Any]]:
    rows = []
    for name in empty:
        e99, f99 = empty[name]["p99"] or 0.0, full[name]["p99"] or 0.0
        ratio = f99 / e99 if e99 else None
        loop = name.startswith("loop:")
        within = (ratio or 0) <= GROWTH_CEILING and (loop or f99 <= P99_CEILING_MS)
        rows.append(
            {
                "read": name,
                "p50 young ms": round(empty[name]["p50"] or 0.0, 1),
                "p99 young ms": round(e99, 1),
                f"p50 {label} ms": round(full[name]["p50"] or 0.0, 1),
                f"p99 {label} ms": round(f99, 1),
                "growth": round(ratio, 2) if ratio else None,
                "target": f"≤ {GROWTH_CEILING}×"
                if loop
                else f"≤ {P99_CEILING_MS:.0f} ms, ≤ {GROWTH_CEILING}×",
                "within target": within,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    heads = list(rows[0])
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(str(r[h]) for h in heads) + " |" for r in rows]
    return "\n".join(lines)


async def hook_receiver() -> tuple[asyncio.Server, str]:
    """A loopback endpoint answering 204: where the running notify's dispatcher sends any
    delivery it finds open before the preload has recorded it delivered."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


async def main(args: argparse.Namespace) -> None:
    system = System(
        names=["patrol", "notify", "incidents"],
        extra_env={"HULIN_LOG_LEVEL": "WARNING"},
        log_dir=Path(args.log_dir) if args.log_dir else None,
    )
    env = system.env()
    common = {"topic_prefix": env["HULIN_TOPIC_PREFIX"], "mongo_db": env["HULIN_MONGO_DB"]}
    settings = {name: Settings(**common, service=name) for name in system.names}
    notify, incidents = settings["notify"], settings["incidents"]
    org = load_org(notify.org_file)
    server, hook_url = await hook_receiver()
    volumes: dict[str, Any] = {}
    try:
        async with (
            NotifyPreload(notify, org, hook_url) as notes,
            PatrolPreload(settings["patrol"], org, seed=3) as patrols,
        ):
            young = await notes.fill(
                notifications=args.empty * 4, alerts=args.empty, deliveries=args.empty_deliveries
            )
            one = await preload_incidents(incidents, org, args.empty, seed=1)
            await patrols.fill(args.empty_patrols, args.fixes, days=30)
            volumes["young"] = {
                **young,
                "incidents": args.empty,
                "patrols": args.empty_patrols,
            }
            await system.start()
            reads = readers(org, notify, one)
            empty = await measure(system, reads, args.reps)
            empty |= await loop_costs(settings, org, args.loop_reps)
            t0 = time.perf_counter()
            grown = await notes.fill(
                notifications=args.notifications, alerts=args.alerts, deliveries=args.deliveries
            )
            t1 = time.perf_counter()
            await preload_incidents(incidents, org, args.incidents, seed=2)
            t2 = time.perf_counter()
            await patrols.fill(args.patrols, args.fixes)
            t3 = time.perf_counter()
            preload = {
                "notify_s": round(t1 - t0),
                "incidents_s": round(t2 - t1),
                "patrol_s": round(t3 - t2),
            }
            full = await measure(system, reads, args.reps)
            full |= await loop_costs(settings, org, args.loop_reps)
    finally:
        system.stop()
        server.close()
        await system.drop_database()
        await delete_topics(notify.kafka_bootstrap, system.prefix)
    volumes["added"] = {**grown, "incidents": args.incidents, "patrols": args.patrols}
    label = "at a year"
    rows = table(empty, full, label)
    print(markdown(rows), flush=True)
    print(f"volumes: {volumes}; preload seconds: {preload}", flush=True)
    data = {
        "command": args.command,
        "rows": rows,
        "preload_s": preload,
        "volumes": volumes,
        "incidents": args.empty + args.incidents,
        "reports": 3 * (args.empty + args.incidents),
        "fixes_per_patrol": args.fixes,
        "ceilings": {"p99_ms": P99_CEILING_MS, "growth": GROWTH_CEILING},
    }
    results_path("history.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    results_path("history.txt").write_text(markdown(rows) + "\n")
    write_section("history", data)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--empty",
        type=int,
        default=2000,
        help="incidents (and alerts; 4× notifications) before the first measure",
    )
    p.add_argument("--empty-patrols", type=int, default=300, help="patrols before it")
    p.add_argument("--empty-deliveries", type=int, default=200, help="webhook deliveries before")
    p.add_argument("--incidents", type=int, default=20_000, help="incidents preloaded after it")
    p.add_argument("--notifications", type=int, default=200_000, help="notifications preloaded")
    p.add_argument("--alerts", type=int, default=100_000, help="alerts preloaded")
    p.add_argument("--patrols", type=int, default=30_000, help="patrols preloaded")
    p.add_argument("--fixes", type=int, default=30, help="fixes per patrol")
    p.add_argument("--deliveries", type=int, default=10_000, help="webhook deliveries preloaded")
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--loop-reps", type=int, default=5)
    p.add_argument("--log-dir", default=None)
    args = p.parse_args(argv)
    args.command = "python -m bench.history_bench " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    return args


if __name__ == "__main__":
    exit_on_sigterm()
    asyncio.run(main(parse()))

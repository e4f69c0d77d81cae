#!/usr/bin/env python
"""Fault injection (`make chaos`; the short form runs in CI from tests/e2e/test_chaos_short.py).

Starts a Kafka broker and a FerretDB of its own (other ports, its own state directory), the three
services as subprocesses with a short-deadline policy, an HQ webhook receiver, and runs the district
simulator. Meanwhile it kills -9 each service in turn and restarts it, restarts Kafka, and restarts
FerretDB. Then it checks, and prints the counts:

- every accepted report is in exactly one incident (its `incident_id`, and in that incident's
  `report_ids` only);
- every due escalation happened, and exactly once: no two `incident.escalated` events on
  `hulin.incidents` with different event ids for the same (incident, to_level), and no incident
  whose escalation timer is overdue;
- no person got a duplicate notification: one `notification.created` per (incident, recipient,
  kind, level) on `hulin.notifications`, and no repeated (incident, kind, level) in an inbox;
- every webhook delivery notify logged as delivered arrived at the receiver, with a valid
  signature, and no event was delivered under two delivery ids.
Exit status 0 only when every count of loss and duplication is zero.

`--cluster` (`make chaos-cluster`) runs against three brokers replicating as production does
(replication 3, `min.insync.replicas` 2) with reports flooding in at `--report-rate` per second
beside the simulated day, kills one broker with -9, starts it again later, and also counts the
services that were not ready again (without a restart) once it was back.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402

from bench.common import System, exit_on_sigterm, free_port  # noqa: E402
from services.notify.domain.webhooks import WEBHOOK_EVENT_TYPES  # noqa: E402
from shared.org import load_org  # noqa: E402
from shared.policy import default_policy_path, load_policy  # noqa: E402
from shared.settings import Settings  # noqa: E402
from sim.api import Api, Endpoints  # noqa: E402
from sim.runner import DayRunner  # noqa: E402
from sim.world import SISLUAN, DayPlan, ReportPlan, plan_day  # noqa: E402
from tests.support.dedicated import DedicatedInfra, KafkaCluster  # noqa: E402

WEBHOOK_SECRET = "chaos-webhook-secret-0123456789abcdef"


def log(msg: str) -> None:
    print(f"[chaos {datetime.now(UTC).strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the HQ webhook receiver ---------------------------------------------------------------------


@dataclass
class Receiver:
    secret: str
    port: int = field(default_factory=free_port)
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                want = "sha256=" + hmac.new(receiver.secret.encode(), body,
                                            hashlib.sha256).hexdigest()
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                with receiver.lock:
                    receiver.arrivals.append({
                        "delivery": self.headers.get("X-Hulin-Delivery"),
                        "event": self.headers.get("X-Hulin-Event"),
                        "signed": hmac.compare_digest(
                            want, self.headers.get("X-Hulin-Signature") or ""),
                        "event_id": _event_id(payload),
                    })
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


def _event_id(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key in ("event_id", "id"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    inner = payload.get("event") or payload.get("alert")
    return _event_id(inner) if isinstance(inner, dict) else None


# --- policy with short deadlines -----------------------------------------------------------------


def short_policy(path: Path, deadlines: list[float]) -> Path:
    """The default policy with every ack deadline shortened, so escalations happen in the run."""
    doc = yaml.safe_load(default_policy_path().read_text())
    esc = doc.setdefault("escalation", {})
    esc["deadlines_s"] = {k: list(deadlines) for k in esc.get("deadlines_s", {})}
    esc["default_deadlines_s"] = list(deadlines)
    # the flood speaks for the day's few reporters at 50/s: a load, not one person's pace
    doc["limits"] = {"reports_per_minute": {"default": 100_000}}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    load_policy(path)  # refuse to run with a policy the services would refuse
    return path


# --- faults --------------------------------------------------------------------------------------


@dataclass
class Faults:
    system: System
    infra: DedicatedInfra
    cluster: KafkaCluster | None = None
    broker_down_s: float = 30.0
    done: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)

    async def kill_service(self, name: str, down_s: float) -> None:
        proc = self.system.procs[name]
        log(f"kill -9 {name} (pid {proc.proc.pid if proc.proc else '?'})")
        proc.kill()
        await asyncio.sleep(down_s)
        proc.start()
        await proc.wait_ready(180)
        log(f"{name} back")
        self.done.append(f"kill -9 {name}")

    async def restart_infra(self, what: str, down_s: float) -> None:
        log(f"stopping {what}")
        await asyncio.to_thread(self.infra.infra, f"stop-{what}")
        await asyncio.sleep(down_s)
        log(f"starting {what}")
        await asyncio.to_thread(self.infra.infra, f"start-{what}")
        log(f"{what} back")
        self.done.append(f"restart {what}")

    async def kill_broker(self, index: int, down_s: float) -> None:
        assert self.cluster is not None, "broker faults need --cluster"
        log(f"kill -9 broker {index + 1} of {len(self.cluster.ports)}")
        await asyncio.to_thread(self.cluster.kill, index)
        await asyncio.sleep(down_s)
        log(f"starting broker {index + 1}")
        await asyncio.to_thread(self.cluster.start, index)
        log(f"broker {index + 1} back")
        self.done.append(f"kill -9 broker {index + 1}")
        self.not_ready += await not_ready_after(self.system, READY_WAIT_S)

    async def run(self, schedule: list[tuple[float, str, str]], down_s: float) -> None:
        start = time.monotonic()
        for at, kind, target in schedule:
            delay = start + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "kill" and target.startswith("broker-"):
                await self.kill_broker(int(target.removeprefix("broker-")) - 1, self.broker_down_s)
            elif kind == "kill":
                await self.kill_service(target, down_s)
            else:
                await self.restart_infra(target, down_s)


# A service must be ready again this soon after a broker it used came back, without a restart.
READY_WAIT_S = 60.0


async def not_ready_after(system: System, wait_s: float) -> list[str]:
    """The services whose /readyz did not answer 200 within `wait_s` (each polled on its own)."""
    import httpx

    async def ready(name: str, url: str) -> str | None:
        deadline = time.monotonic() + wait_s
        async with httpx.AsyncClient(timeout=5.0) as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        return None
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(1.0)
        return name

    found = await asyncio.gather(*(ready(n, p.url) for n, p in system.procs.items()))
    return [n for n in found if n]


# --- load ----------------------------------------------------------------------------------------


def flood(plan: DayPlan, *, rate: float, speedup: float, seed: int) -> DayPlan:
    """The day's plan with reports added at `rate` per wall second over the whole day: sisluan
    reports by the day's reporters, a few hundred metres from where they report anyway, so
    they land in their villages and join a bounded number of incidents."""
    if rate <= 0:
        return plan
    rng = random.Random(seed * 7919)
    bases = [r for r in plan.reports if r.scenario != "public"] or list(plan.reports)
    gap = speedup / rate  # simulated seconds between two reports
    extra: list[ReportPlan] = []
    at = 5.0
    while at < plan.day_s - 60:
        base = rng.choice(bases)
        extra.append(ReportPlan(
            at_s=at, person_id=base.person_id, type=rng.choice(SISLUAN),
            lat=base.lat + rng.uniform(-0.002, 0.002), lon=base.lon + rng.uniform(-0.002, 0.002),
            scenario="flood", report_id=str(uuid.uuid4()),
        ))
        at += gap
    return replace(plan, reports=[*plan.reports, *extra])


# --- checks --------------------------------------------------------------------------------------


async def read_all(bootstrap: str, topic: str, idle_s: float = 3.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    quiet_since = time.monotonic()
                    try:
                        out.append(json.loads(r.value or b"{}"))
                    except ValueError:
                        pass
    finally:
        await consumer.stop()
    return out


async def check(
    *, runner: DayRunner, api: Api, bootstrap: str, prefix: str, receiver: Receiver,
    webhook_id: str | None, settle_s: float,
) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    summary = await runner.summarize(settle_s=settle_s, wall_start=time.monotonic())
    counts["reports_accepted"] = summary.reports_accepted
    counts["reports_lost"] = summary.lost
    counts["incidents"] = summary.incidents

    # every report in exactly one incident (by the incidents' own report lists)
    base = api.endpoints.incidents
    in_incidents: Counter[str] = Counter()
    overdue_timers = 0
    now = datetime.now(UTC)
    incident_ids: set[str] = set()
    for rid, person in runner.tally.accepted.items():
        iid = await runner.incident_of(rid, person, 5)
        if iid:
            incident_ids.add(iid)
    for iid in sorted(incident_ids):
        r = await api.call("GET", f"{base}/v1/incidents/{iid}", runner.watcher_id, give_up_s=20)
        if r.status != 200 or not isinstance(r.body, dict):
            continue
        for rid in r.body.get("report_ids", []):
            in_incidents[str(rid)] += 1
        nxt = r.body.get("next_escalation_at")
        if nxt and r.body.get("status") == "reported":
            due = datetime.fromisoformat(str(nxt).replace("Z", "+00:00"))
            if (now - due).total_seconds() > 15:
                overdue_timers += 1
    accepted = set(runner.tally.accepted)
    counts["reports_in_no_incident_list"] = sum(1 for rid in accepted if in_incidents[rid] == 0)
    counts["reports_in_several_incidents"] = sum(1 for rid in accepted if in_incidents[rid] > 1)
    counts["escalation_timers_overdue"] = overdue_timers

    # escalations: once per (incident, to_level)
    events = await read_all(bootstrap, f"{prefix}hulin.incidents")
    esc: dict[tuple[str, int], set[str]] = defaultdict(set)
    redelivered: Counter[str] = Counter()
    for e in events:
        redelivered[str(e.get("id"))] += 1
        if e.get("type") == "incident.escalated":
            data = e.get("data", {})
            key = (str(data.get("incident", {}).get("id")), int(data.get("to_level", -1)))
            esc[key].add(str(e.get("id")))
    counts["escalation_events"] = sum(len(v) for v in esc.values())
    counts["escalations_duplicated"] = sum(1 for v in esc.values() if len(v) > 1)
    counts["incident_events_published_twice_same_id"] = sum(
        1 for n in redelivered.values() if n > 1)

    # notifications: one per (incident, recipient, kind, level)
    notes = await read_all(bootstrap, f"{prefix}hulin.notifications")
    by_key: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for e in notes:
        if e.get("type") != "notification.created":
            continue
        d = e.get("data", {})
        if d.get("incident_id") is None:
            continue  # a patrol's (overdue): the event names no patrol; the inbox check has them
        by_key[(d.get("incident_id"), d.get("recipient_id"), d.get("kind"), d.get("level"))].add(
            str(d.get("notification_id")))
    counts["notifications"] = len(by_key)
    counts["notifications_duplicated"] = sum(1 for v in by_key.values() if len(v) > 1)
    inbox_dupes = 0
    inbox_total = 0
    for person in sorted(runner.org.people.values(), key=lambda p: p.id):
        r = await api.call("GET", f"{api.endpoints.notify}/v1/inbox", person.id, give_up_s=10,
                           params={"limit": 500})
        items = r.body.get("notifications", r.body.get("items", [])) if isinstance(
            r.body, dict) else (r.body or [])
        keys = Counter(
            (i.get("incident_id") or i.get("patrol_id"), i.get("kind"), i.get("level"))
            for i in items
            if isinstance(i, dict)
        )
        inbox_total += len(items)
        inbox_dupes += sum(n - 1 for n in keys.values() if n > 1)
    counts["inbox_notifications"] = inbox_total
    counts["inbox_duplicates"] = inbox_dupes

    # webhooks: every delivery notify logged as delivered arrived; one delivery id per event
    with receiver.lock:
        arrivals = list(receiver.arrivals)
    by_delivery = Counter(a["delivery"] for a in arrivals)
    counts["webhook_arrivals"] = len(arrivals)
    counts["webhook_delivery_ids"] = len(by_delivery)
    counts["webhook_same_delivery_twice"] = sum(1 for n in by_delivery.values() if n > 1)
    counts["webhook_bad_signatures"] = sum(1 for a in arrivals if not a["signed"])
    per_event: dict[str, set[str]] = defaultdict(set)
    for a in arrivals:
        if a["event_id"]:
            per_event[a["event_id"]].add(str(a["delivery"]))
    counts["webhook_events_under_two_delivery_ids"] = sum(
        1 for v in per_event.values() if len(v) > 1)
    missing = 0
    pending: list[dict[str, Any]] = []
    if webhook_id:
        logged = await settled_deliveries(api, webhook_id, wait_s=DELIVERY_WAIT_S)
        with receiver.lock:
            by_delivery = Counter(a["delivery"] for a in receiver.arrivals)
        counts["webhook_deliveries_logged"] = len(logged)
        for d in logged:
            if d.get("status") == "delivered" and d.get("id") not in by_delivery:
                missing += 1
            if d.get("status") != "delivered":
                pending.append({k: d.get(k) for k in (
                    "id", "event_type", "status", "attempts", "created_at", "next_try_at",
                    "last_error", "tries")})
    counts["webhook_delivered_but_not_received"] = missing
    counts["webhook_not_yet_delivered"] = len(pending)
    if pending:
        counts["webhook_pending"] = pending
    return counts


# A delivery claimed by a notify that was killed waits out its lease, then its backoff; with the
# chaos run's lease and backoff (CHAOS_NOTIFY_ENV) every delivery arrives well inside this.
DELIVERY_WAIT_S = 90.0


async def settled_deliveries(api: Api, webhook_id: str, *, wait_s: float) -> list[dict[str, Any]]:
    """The webhook's delivery log once nothing in it is still on its way (or `wait_s` is up):
    a delivery that is late is not lost, one still pending after the bound is."""
    deadline = time.monotonic() + wait_s
    while True:
        r = await api.call("GET", f"{api.endpoints.notify}/v1/webhooks/{webhook_id}/deliveries",
                           "hq-500114", params={"limit": 500}, give_up_s=20)
        logged: list[dict[str, Any]] = (
            r.body.get("deliveries", []) if isinstance(r.body, dict) else [])
        if all(d.get("status") == "delivered" for d in logged) or time.monotonic() > deadline:
            return logged
        await asyncio.sleep(2.0)


FAILURE_KEYS = (
    "reports_lost", "reports_in_no_incident_list", "reports_in_several_incidents",
    "escalation_timers_overdue", "escalations_duplicated", "notifications_duplicated",
    "inbox_duplicates", "webhook_bad_signatures", "webhook_events_under_two_delivery_ids",
    "webhook_delivered_but_not_received", "webhook_not_yet_delivered", "services_not_ready",
)


# Webhook timing scaled to the run (production: 10 s timeout, 60 s lease, backoff from 10 s to
# 10 min): a try cut off by a kill is retried within a minute, not after the run has ended.
CHAOS_NOTIFY_ENV = {
    "HULIN_WEBHOOK_TIMEOUT_S": "5",
    "HULIN_WEBHOOK_LEASE_S": "15",
    "HULIN_WEBHOOK_BACKOFF_BASE_S": "2",
    "HULIN_WEBHOOK_BACKOFF_MAX_S": "10",
}


# --- main ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work: Path = args.work
    infra = DedicatedInfra.create(work / "state")
    cluster = KafkaCluster.create(work / "state") if args.cluster else None
    if cluster is None:
        log(f"own Kafka :{infra.kafka_port} and FerretDB :{infra.mongo_port} in {work}")
        await asyncio.to_thread(infra.infra, "up")
        bootstrap = infra.kafka_bootstrap
    else:
        bootstrap = cluster.bootstrap
        log(f"own Kafka cluster {bootstrap} and FerretDB :{infra.mongo_port} in {work}")
        await asyncio.to_thread(infra.infra, "start-ferretdb")
        await asyncio.to_thread(cluster.start_all)
    policy_path = short_policy(work / "policy.yaml", args.deadlines)
    env = {k: v for k, v in infra.env.items() if k.startswith("HULIN_")}
    if cluster is not None:
        env["HULIN_KAFKA_BOOTSTRAP"] = cluster.bootstrap
        env["HULIN_TOPIC_REPLICATION_FACTOR"] = str(cluster.replication)
    env["HULIN_POLICY_FILE"] = str(policy_path)
    env.update(CHAOS_NOTIFY_ENV)
    system = System(extra_env=env, log_dir=work / "logs", prefix="chaos.", db="hulin_chaos")
    receiver = Receiver(WEBHOOK_SECRET)
    receiver.start()
    result: dict[str, Any] = {}
    try:
        await system.start()
        log("services ready: " + ", ".join(f"{n} {p.url}" for n, p in system.procs.items()))
        settings = Settings(**{"kafka_bootstrap": bootstrap,
                               "mongo_uri": infra.mongo_uri, "policy_file": policy_path})
        org = load_org(settings.org_file)
        policy = load_policy(policy_path)
        endpoints = Endpoints(system.url("patrol"), system.url("incidents"), system.url("notify"))
        plan = plan_day(org, random.Random(args.seed), walkers=args.rangers, day_s=args.duration,
                        fires=3, pests=2, sisluan=6, public=4, hotspot_files=2,
                        upload_every_s=60)
        plan = flood(plan, rate=args.report_rate, speedup=args.speedup, seed=args.seed)
        if args.report_rate:
            log(f"{len(plan.reports)} reports planned, {args.report_rate:g}/s beside the day's")
        async with Api(endpoints, settings=settings, give_up_s=args.give_up) as api:
            hook: dict[str, Any] = {"url": receiver.url, "secret": WEBHOOK_SECRET}
            if args.report_rate:
                # HQ's alarms, not each of thousands of merged reports (incident.updated)
                hook["types"] = [t for t in WEBHOOK_EVENT_TYPES if t != "incident.updated"]
            r = await api.call("POST", f"{endpoints.notify}/v1/webhooks", "hq-500114",
                               json=hook)
            webhook_id = r.body.get("id") if r.status == 201 and isinstance(r.body, dict) else None
            log(f"HQ webhook: {r.status} {webhook_id}")
            runner = DayRunner(api=api, org=org, policy=policy, plan=plan, speedup=args.speedup,
                               ack_prob=0.4, seed=args.seed, quiet=not args.verbose)
            wall = args.duration / args.speedup
            gap = wall / (len(args.faults) + 1)
            schedule = [(gap * (i + 1), *f.split(":", 1)) for i, f in enumerate(args.faults)]
            faults = Faults(system, infra, cluster, broker_down_s=args.broker_down)
            log(f"simulating {args.duration / 3600:.1f} h at ×{args.speedup:g} ≈ {wall:.0f} s; "
                f"faults at {[(round(a), f'{k} {t}') for a, k, t in schedule]}")
            await asyncio.gather(runner.run(), faults.run(schedule, args.down))
            log(f"simulation done: {len(runner.tally.accepted)} reports accepted; settling "
                f"{args.settle:g} s for escalations and deliveries")
            await asyncio.sleep(args.settle)
            counts = await check(runner=runner, api=api, bootstrap=bootstrap,
                                 prefix=system.prefix, receiver=receiver,
                                 webhook_id=webhook_id, settle_s=60)
            counts["faults"] = faults.done
            counts["services_not_ready"] = faults.not_ready + await not_ready_after(system, 5.0)
            if cluster is not None:
                counts["brokers"] = len(cluster.ports)
            counts["patrol_points_accepted"] = runner.tally.points_accepted
            counts["sim_errors"] = dict(runner.tally.errors)
            result = counts
    finally:
        receiver.stop()
        system.stop()
        if not args.keep:
            await asyncio.to_thread(infra.infra, "down")
            if cluster is not None:
                await asyncio.to_thread(cluster.stop_all)
    failures = {k: result.get(k) for k in FAILURE_KEYS if result.get(k)}
    result["failures"] = failures
    result["ok"] = not failures and bool(result.get("reports_accepted"))
    log("counts:")
    for k, v in result.items():
        print(f"  {k:45s} {v}", flush=True)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--short", action="store_true", help="the CI form (≈ 3 minutes)")
    p.add_argument("--cluster", action="store_true",
                   help="three brokers (replication 3, min ISR 2); one is killed with -9")
    p.add_argument("--report-rate", type=float, default=None,
                   help="reports per second added to the day's (cluster default 50)")
    p.add_argument("--broker-down", type=float, default=30.0,
                   help="seconds a killed broker stays down")
    p.add_argument("--rangers", type=int, default=None)
    p.add_argument("--duration", type=float, default=None, help="simulated seconds")
    p.add_argument("--speedup", type=float, default=None)
    p.add_argument("--down", type=float, default=3.0, help="seconds each thing stays down")
    p.add_argument("--settle", type=float, default=None)
    p.add_argument("--deadlines", type=lambda s: [float(x) for x in s.split(",")],
                   default=[20.0, 30.0, 40.0], help="ack deadlines per level (seconds)")
    p.add_argument("--faults", type=lambda s: s.split(","), default=None,
                   help="comma-separated kill:SERVICE / restart:kafka / restart:ferretdb")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--give-up", type=float, default=None,
                   help="seconds the simulated apps keep resending one call")
    p.add_argument("--state-dir", default=None)
    p.add_argument("--keep", action="store_true", help="leave infra running and state on disk")
    p.add_argument("--json", default=None, help="write the counts here")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    full = ["kill:patrol", "kill:incidents", "kill:notify", "restart:kafka", "restart:ferretdb"]
    if args.cluster:
        full = ["kill:broker-1"]
        args.report_rate = 50.0 if args.report_rate is None else args.report_rate
        args.duration = args.duration or 3 * 3600
        args.speedup = args.speedup or 90
    args.report_rate = args.report_rate or 0.0
    if args.short:
        args.rangers = args.rangers or 27
        args.duration = args.duration or 2.5 * 3600
        args.speedup = args.speedup or 90
        args.settle = args.settle if args.settle is not None else 60
        args.faults = args.faults or full
        args.give_up = args.give_up or 90
    else:
        args.rangers = args.rangers or 90
        args.duration = args.duration or 6 * 3600
        args.speedup = args.speedup or 60
        args.settle = args.settle if args.settle is not None else 90
        args.faults = args.faults or (["kill:broker-1", "kill:broker-3"] if args.cluster
                                      else full + full)
        args.give_up = args.give_up or 300
    return args


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    args = parse_args(argv)
    args.work = Path(args.state_dir or tempfile.mkdtemp(prefix="hulin-chaos-"))
    args.work.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if not args.keep and args.state_dir is None and result.get("ok"):
        shutil.rmtree(args.work, ignore_errors=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

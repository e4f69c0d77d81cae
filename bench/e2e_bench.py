"""End-to-end latency: from `POST /v1/reports` (incidents) to the alert on the command center's
live stream (`GET /v1/alerts/stream`, notify), through Kafka, both services and FerretDB.

`make bench-e2e` starts the three services as subprocesses (own topic prefix, database and ports,
against the local Kafka and FerretDB), then
  1. runs 100 reports/s for 60 s (open loop, as phones send) and reports p50/p99 and lost reports
     (accepted with 202, but no alert on the stream within the drain time);
  2. sweeps offered load (25 … 300 reports/s, short steps) to find the highest rate whose p99 stays
     ≤ 250 ms with nothing lost, and plots latency against offered load to docs/latency.png;
  3. samples each service's RSS (psutil) under load;
  4. measures the HTTP ceiling beside it: the same POSTs against a bare FastAPI endpoint.
Every report lies ≥ 330 m from every other of its family, so none merges: one report, one alert.
Prints figures; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import (
    ROOT,
    BareEndpoint,
    System,
    delete_topics,
    exit_on_sigterm,
    headline,
    open_loop,
    percentile,
    sample_rss_every,
    store_commands,
    store_cost_per,
    write_section,
)
from shared.auth import issue_token
from shared.org import Level, OrgDirectory, Role, load_org
from shared.settings import Settings

# One family each: pest, 四乱 and "other" never merge with each other.
TYPES = ("pest", "illegal_logging", "wildlife_damage")
SPACING_M = 330.0  # > the 300 m merge distance of these families
P99_TARGET_S = 0.250


# --- where reports go ----------------------------------------------------------------------------


def report_slots(org: OrgDirectory, spacing_m: float = SPACING_M) -> list[tuple[float, float, str]]:
    """Grid points inside the district's villages, `spacing_m` apart, as (lat, lon, village)."""
    from shapely.geometry import Point
    from shapely.prepared import prep

    minx, miny, maxx, maxy = org.district.boundary.bounds
    dlat = spacing_m / 111_320.0
    dlon = spacing_m / (111_320.0 * math.cos(math.radians((miny + maxy) / 2)))
    villages = [(u, prep(u.boundary.buffer(-0.0003))) for u in org.units.values()
                if u.level is Level.VILLAGE]
    out: list[tuple[float, float, str]] = []
    lat = miny + dlat / 2
    while lat < maxy:
        lon = minx + dlon / 2
        while lon < maxx:
            p = Point(lon, lat)
            for unit, shape in villages:
                if shape.contains(p):
                    out.append((round(lat, 6), round(lon, 6), unit.code))
                    break
            lon += dlon
        lat += dlat
    return out


class Slots:
    """Hands out (type, lat, lon, village) never used before in this run."""

    def __init__(self, org: OrgDirectory) -> None:
        self.points = report_slots(org)
        self.i = 0

    @property
    def capacity(self) -> int:
        return len(self.points) * len(TYPES) - self.i

    def take(self) -> tuple[str, float, float, str]:
        if self.capacity <= 0:
            raise RuntimeError("out of report slots: shorten the run or lower the rate")
        type_ = TYPES[self.i % len(TYPES)]
        lat, lon, village = self.points[(self.i // len(TYPES)) % len(self.points)]
        self.i += 1
        return type_, lat, lon, village


def _epoch(iso: Any) -> float:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return math.nan


# --- the command center's stream (a thread: its clock must not wait for the load loop) -----------


@dataclass
class AlertStream:
    url: str
    token: str
    first_seen: dict[str, float] = field(default_factory=dict)  # incident id -> perf_counter
    # incident id -> (the alert's `at`: when incidents opened it, epoch s; wall clock on arrival)
    stamps: dict[str, tuple[float, float]] = field(default_factory=dict)
    alerts: int = 0
    connected: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sse", daemon=True)
        self._thread.start()

    def _events(self, lines: Iterator[str]) -> Iterator[dict[str, Any]]:
        data: list[str] = []
        for line in lines:
            if line == "":
                if data:
                    try:
                        yield orjson.loads("\n".join(data))
                    except orjson.JSONDecodeError:
                        pass
                data = []
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            if self.stop.is_set():
                return

    def _run(self) -> None:
        last_id: str | None = None
        while not self.stop.is_set():
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            try:
                with httpx.stream("GET", self.url, headers=headers,
                                  timeout=httpx.Timeout(5.0, read=None)) as r:
                    if r.status_code != 200:
                        self.error = f"stream answered {r.status_code}: {r.read()[:200]!r}"
                        time.sleep(1)
                        continue
                    self.connected.set()
                    for event in self._events(r.iter_lines()):
                        now = time.perf_counter()
                        iid = event.get("incident_id")
                        last_id = str(event.get("id") or last_id or "")
                        with self._lock:
                            self.alerts += 1
                            if iid and iid not in self.first_seen:
                                self.first_seen[str(iid)] = now
                                self.stamps[str(iid)] = (_epoch(event.get("at")), time.time())
            except httpx.HTTPError as exc:
                self.error = repr(exc)
                time.sleep(0.5)

    def seen(self, incident_id: str) -> float | None:
        with self._lock:
            return self.first_seen.get(incident_id)

    def stamp(self, incident_id: str) -> tuple[float, float] | None:
        with self._lock:
            return self.stamps.get(incident_id)

    def count(self) -> int:
        with self._lock:
            return len(self.first_seen)

    def close(self) -> None:
        self.stop.set()


# --- one phase: a rate for a while ---------------------------------------------------------------


@dataclass
class Phase:
    rate: float
    duration_s: float
    sent: dict[str, tuple[float, str]] = field(default_factory=dict)  # report id -> (t, reporter)
    sent_wall: dict[str, float] = field(default_factory=dict)  # report id -> epoch s
    # where the time went: POST → incident opened (incidents), opened → on the stream (notify)
    incidents_s: list[float] = field(default_factory=list)
    notify_s: list[float] = field(default_factory=list)
    # (sent at, s after the phase began; latency s): when in the run the slow ones were sent
    # per report: (sent, s since the phase began; e2e latency; incidents stage; notify stage)
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    accepted: list[str] = field(default_factory=list)
    post_latencies_s: list[float] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unresolved: int = 0
    elapsed_s: float = 0.0
    drained: Any = None  # what `on_drained` returned (before the reports are looked up)

    def row(self) -> dict[str, Any]:
        lat = self.latencies_s
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        return {
            "offered_per_s": self.rate,
            "achieved_per_s": round(len(self.accepted) / self.elapsed_s, 1)
            if self.elapsed_s else None,
            "reports": len(self.sent),
            "accepted": len(self.accepted),
            "alerted": len(lat),
            "lost": len(self.lost),
            "p50_ms": round(p50 * 1000, 1) if p50 is not None else None,
            "p99_ms": round(p99 * 1000, 1) if p99 is not None else None,
            "max_ms": round(max(lat) * 1000, 1) if lat else None,
            "post_p99_ms": round((percentile(self.post_latencies_s, 99) or 0) * 1000, 1),
            **{f"{stage}_p{p}_ms": _ms(percentile(values, p))
               for stage, values in (("incidents", self.incidents_s), ("notify", self.notify_s))
               for p in (50, 99)},
        }


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


class E2E:
    def __init__(self, system: System, org: OrgDirectory, settings: Settings) -> None:
        self.system = system
        self.org = org
        self.settings = settings
        self.slots = Slots(org)
        self.tokens: dict[str, str] = {}
        cc = sorted(p.id for p in org.people.values() if p.role is Role.COMMAND_CENTER)
        self.stream = AlertStream(f"{system.url('notify')}/v1/alerts/stream", self.token(cc[0]))
        self.client: httpx.AsyncClient | None = None

    def token(self, person: str) -> str:
        if person not in self.tokens:
            self.tokens[person] = issue_token(person, self.settings, ttl_s=24 * 3600)
        return self.tokens[person]

    def reporter(self, village: str) -> str:
        rangers = self.org.people_in(village, Role.RANGER)
        return rangers[0].id

    async def __aenter__(self) -> E2E:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=400, max_keepalive_connections=400),
        )
        self.stream.start()
        deadline = time.monotonic() + 60
        while not self.stream.connected.is_set():
            if time.monotonic() > deadline:
                raise RuntimeError(f"alert stream did not connect: {self.stream.error}")
            await asyncio.sleep(0.1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stream.close()
        if self.client is not None:
            await self.client.aclose()

    async def post_report(self, phase: Phase) -> bool:
        assert self.client is not None
        type_, lat, lon, village = self.slots.take()
        rid = str(uuid.uuid4())
        person = self.reporter(village)
        body = {
            "id": rid, "type": type_, "lat": lat, "lon": lon,
            "observed_at": (datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
            "description": "bench",
        }
        t = time.perf_counter()
        phase.sent[rid] = (t, person)
        phase.sent_wall[rid] = time.time()
        r = await self.client.post(
            f"{self.system.url('incidents')}/v1/reports", json=body,
            headers={"Authorization": f"Bearer {self.token(person)}"},
        )
        phase.post_latencies_s.append(time.perf_counter() - t)
        if r.status_code == 202:
            phase.accepted.append(rid)
            return True
        return False

    async def incident_of(self, rid: str, person: str, timeout_s: float) -> str | None:
        assert self.client is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                r = await self.client.get(
                    f"{self.system.url('incidents')}/v1/reports/{rid}",
                    headers={"Authorization": f"Bearer {self.token(person)}"},
                )
                if r.status_code == 200 and r.json().get("incident_id"):
                    return str(r.json()["incident_id"])
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.5)

    async def run_phase(
        self,
        rate: float,
        duration_s: float,
        drain_s: float,
        max_drain_s: float = 60.0,
        on_drained: Callable[[], Awaitable[Any]] | None = None,
    ) -> Phase:
        phase = Phase(rate, duration_s)
        before = self.stream.count()
        result = await open_loop(rate, duration_s, lambda i: self.post_report(phase))
        phase.elapsed_s = result.elapsed_s
        # drain: wait until an alert per accepted report arrived, or nothing new for drain_s
        last_count, quiet_since = self.stream.count(), time.monotonic()
        give_up = time.monotonic() + max_drain_s
        while self.stream.count() - before < len(phase.accepted):
            await asyncio.sleep(0.2)
            count = self.stream.count()
            if count != last_count:
                last_count, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since > drain_s:
                break
            if time.monotonic() > give_up:
                break
        if on_drained is not None:
            phase.drained = await on_drained()
        # which incident did each report open? (the alert names the incident, not the report)
        sem = asyncio.Semaphore(24)

        async def resolve(rid: str) -> None:
            t_sent, person = phase.sent[rid]
            async with sem:
                iid = await self.incident_of(rid, person, timeout_s=0)
            seen = self.stream.seen(iid) if iid else None
            if iid is None:
                phase.unresolved += 1
            if seen is None:
                phase.lost.append(rid)
            else:
                phase.latencies_s.append(seen - t_sent)
                opened_at, arrived = self.stream.stamp(iid) or (math.nan, math.nan)
                if not math.isnan(opened_at):
                    phase.incidents_s.append(opened_at - phase.sent_wall[rid])
                    phase.notify_s.append(arrived - opened_at)
                stages = (opened_at - phase.sent_wall[rid], arrived - opened_at)
                phase.samples.append((t_sent - phase.started, seen - t_sent, *stages))

        await asyncio.gather(*(resolve(rid) for rid in phase.accepted))
        return phase

    async def warm_up(self) -> None:
        """Until a report's alert comes through (consumer groups joined, indexes built)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            phase = await self.run_phase(5, 1, drain_s=5)
            if phase.accepted and not phase.lost:
                return
        raise RuntimeError(f"no alert came through the system in 120 s ({self.stream.error})")


# --- ceiling -------------------------------------------------------------------------------------


async def http_ceiling(rate: float, duration_s: float, org: OrgDirectory) -> dict[str, Any]:
    """The same POST /v1/reports bodies at the same rate against a bare FastAPI endpoint."""
    slots = Slots(org)
    async with BareEndpoint() as bare, httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=400, max_keepalive_connections=400)
    ) as client:
        async def send(i: int) -> bool:
            type_, lat, lon, _ = slots.take()
            r = await client.post(f"{bare.url}/v1/reports", json={
                "id": str(uuid.uuid4()), "type": type_, "lat": lat, "lon": lon,
                "observed_at": datetime.now(UTC).isoformat(), "description": "bench"})
            return r.status_code == 202

        res = await open_loop(rate, duration_s, send)
    p50, p99 = percentile(res.latencies_s, 50), percentile(res.latencies_s, 99)
    return {
        "rate_per_s": rate,
        "ok": res.ok,
        "p50_ms": round((p50 or 0) * 1000, 2),
        "p99_ms": round((p99 or 0) * 1000, 2),
    }


# --- plot ----------------------------------------------------------------------------------------


def plot(rows: list[dict[str, Any]], path: Path, *, main: dict[str, Any] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["offered_per_s"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    ax.plot(xs, [r["p50_ms"] for r in rows], "o-", label="p50")
    ax.plot(xs, [r["p99_ms"] for r in rows], "s-", label="p99")
    ax.plot(xs, [r["max_ms"] for r in rows], ":", color="grey", label="max")
    ax.axhline(P99_TARGET_S * 1000, color="red", linestyle="--", linewidth=1,
               label="p99 target 250 ms")
    for r in rows:
        if r["lost"]:
            ax.annotate(f"{r['lost']} not alerted in drain window",
                        (r["offered_per_s"], r["p99_ms"] or 0),
                        textcoords="offset points", xytext=(0, 8), ha="center", color="red",
                        fontsize=8)
    if main:
        ax.plot([main["offered_per_s"]], [main["p99_ms"]], "*", markersize=12, color="black",
                label=f"p99, {main['offered_per_s']:g}/s for {main.get('duration_s', 60):g} s")
    ax.set_xlabel("offered load (reports/s)")
    ax.set_ylabel("POST /v1/reports → alert on the SSE stream (ms)")
    ax.set_yscale("log")
    ax.set_title("Hulin end-to-end alert latency vs offered load (2-core machine)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# --- main ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    org = load_org(settings.org_file)
    infra = None
    extra: dict[str, str] = {}
    if args.dedicated:  # a Kafka and FerretDB of its own: nobody else's load on them
        from tests.support.dedicated import DedicatedInfra

        infra = DedicatedInfra.create(Path(tempfile.mkdtemp(prefix="hulin-e2e-")))
        await asyncio.to_thread(infra.infra, "up")
        extra = {"HULIN_KAFKA_BOOTSTRAP": infra.kafka_bootstrap, "HULIN_MONGO_URI": infra.mongo_uri}
        settings = Settings(kafka_bootstrap=infra.kafka_bootstrap, mongo_uri=infra.mongo_uri)
    system = System(log_dir=Path(args.log_dir) if args.log_dir else None, extra_env=extra)
    print(f"[e2e] starting services (prefix {system.prefix}, db {system.db})", flush=True)
    await system.start()
    stop_rss = asyncio.Event()
    rss_task = asyncio.create_task(sample_rss_every(system, 1.0, stop_rss))
    out: dict[str, Any] = {}
    try:
        async with E2E(system, org, settings) as e2e:
            need = int(args.rate * args.duration + sum(r * args.step for r in args.sweep) + 200)
            if need > e2e.slots.capacity:
                print(f"[e2e] warning: {need} reports wanted, {e2e.slots.capacity} slots",
                      flush=True)
            await e2e.warm_up()
            # the sweep first, low to high, so no step inherits the main run's backlog
            rows: list[dict[str, Any]] = []
            for rate in args.sweep:
                phase = await e2e.run_phase(rate, args.step, drain_s=args.drain,
                                            max_drain_s=args.max_drain_step)
                rows.append(phase.row())
                print(f"[e2e] sweep: {rows[-1]}", flush=True)
                await asyncio.sleep(args.pause)
            rss_all = system.rss_mb()
            print(f"[e2e] {args.rate:g} reports/s for {args.duration:g} s", flush=True)
            store_before = await store_commands(system)
            main = await e2e.run_phase(args.rate, args.duration, drain_s=args.drain,
                                       max_drain_s=args.max_drain,
                                       on_drained=lambda: store_commands(system))
            store_cost = store_cost_per(store_before, main.drained, main.row()["accepted"])
            print("[e2e] database commands per accepted report (costliest first):", flush=True)
            for r in store_cost:
                print(f"  {r['service']:9} {r['command']:14} {r['collection']:28} "
                      f"{r['per_unit']:7.3f}/report {r['ms_per_unit']:8.3f} ms/report "
                      f"{r['ms_each']:8.3f} ms each", flush=True)
            main_row = {**main.row(), "duration_s": args.duration}
            if args.samples:
                write_samples(Path(args.samples), main.samples)
            print(f"[e2e] main: {main_row}", flush=True)
            rss = system.rss_mb()
            stream_error = e2e.stream.error
    finally:
        stop_rss.set()
        await rss_task
        system.stop()
        if infra is not None:
            await asyncio.to_thread(infra.infra, "down")
        elif not args.keep:
            await system.drop_database()
            await delete_topics(settings.kafka_bootstrap, system.prefix)
    good = [r for r in rows if r["lost"] == 0 and r["p99_ms"] is not None
            and r["p99_ms"] <= P99_TARGET_S * 1000]
    max_rate = max((r["offered_per_s"] for r in good), default=None)
    print("[e2e] HTTP ceiling: bare FastAPI endpoint at the same rate", flush=True)
    ceiling = await http_ceiling(args.rate, min(args.duration, 10), org)
    plot(rows, ROOT / args.plot, main=main_row)
    out = {
        "command": args.command,
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "p50_ms": main_row["p50_ms"],
        "p99_ms": main_row["p99_ms"],
        "max_ms": main_row["max_ms"],
        "accepted": main_row["accepted"],
        "lost": main_row["lost"],
        "post_p99_ms": main_row["post_p99_ms"],
        "max_rate_p99_le_250ms": max_rate,
        "sweep": rows,
        "rss_under_load_mb": rss,
        "rss_after_sweep_mb": rss_all,
        "http_ceiling": ceiling,
        "store_commands_per_report": store_cost,
        "stream_error": stream_error,
        "plot": args.plot,
        "headline": [
            headline(f"e2e p50 at {args.rate:g} reports/s", main_row["p50_ms"], unit="ms"),
            headline(f"e2e p99 at {args.rate:g} reports/s", main_row["p99_ms"], unit="ms"),
            headline("reports lost (of accepted)", main_row["lost"],
                     unit=f"of {main_row['accepted']}"),
            headline("POST /v1/reports p99 (bare endpoint p99 as ceiling)",
                     main_row["post_p99_ms"], unit="ms"),
            headline("max offered rate with e2e p99 ≤ 250 ms, 0 lost", max_rate,
                     unit="reports/s"),
        ] + [
            headline(f"RSS {name} under load (max)", v["max_mb"], unit="MB")
            for name, v in rss.items()
        ],
    }
    out["headline"][3]["ceiling"] = ceiling["p99_ms"]
    write_section("e2e", out)
    print(f"[e2e] p50 {main_row['p50_ms']} ms, p99 {main_row['p99_ms']} ms, lost "
          f"{main_row['lost']} of {main_row['accepted']} at {args.rate:g}/s; highest rate with "
          f"p99 ≤ 250 ms: {max_rate}; RSS {rss}; plot {args.plot}", flush=True)
    return out


def write_samples(path: Path, samples: list[tuple[float, float, float, float]]) -> None:
    """The main run's reports as CSV, in the order sent: seconds since the run began, e2e
    latency and its two stages (POST → incident opened, opened → on the stream) in ms; to see
    when latency climbs (a burst, a background task) and where, not only how far."""
    rows = "".join(
        f"{t:.3f},{total * 1000:.1f},{inc * 1000:.1f},{notify * 1000:.1f}\n"
        for t, total, inc, notify in sorted(samples)
    )
    path.write_text("sent_s,latency_ms,incidents_ms,notify_ms\n" + rows)
    print(f"[e2e] samples of the main run: {path}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, default=100.0, help="reports/s of the main run")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of the main run")
    p.add_argument("--sweep", type=lambda s: [float(x) for x in s.split(",") if x],
                   default=[10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 250.0],
                   help="offered loads of the sweep, comma-separated ('' for none)")
    p.add_argument("--step", type=float, default=10.0, help="seconds per sweep step")
    p.add_argument("--pause", type=float, default=3.0, help="seconds between steps")
    p.add_argument("--drain", type=float, default=10.0,
                   help="seconds without a new alert before the rest count as lost")
    p.add_argument("--max-drain", type=float, default=300.0,
                   help="longest wait after the main run for a backlog to clear (then: lost)")
    p.add_argument("--max-drain-step", type=float, default=60.0,
                   help="the same after each sweep step")
    p.add_argument("--plot", default="docs/latency.png")
    p.add_argument("--log-dir", default=None, help="write the services' logs here")
    p.add_argument("--samples", default=None,
                   help="write the main run's (sent_s, latency_ms) per report to this CSV")
    p.add_argument("--keep", action="store_true", help="keep the database and topics")
    p.add_argument("--dedicated", action="store_true",
                   help="run on a Kafka and FerretDB of its own (other ports, temporary state)")
    args = p.parse_args(argv)
    args.command = "python -m bench.e2e_bench " + " ".join(argv if argv is not None
                                                           else sys.argv[1:])
    return args


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    out = asyncio.run(run(parse_args(argv)))
    return 0 if out.get("lost") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

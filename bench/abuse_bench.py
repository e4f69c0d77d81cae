"""`make abuse` (issue 16): do the other users keep their alerts while one person abuses Hulin?

Starts the three services as subprocesses (own topic prefix, database and ports, on the local
Kafka and FerretDB, default policy), runs the district simulator's normal day in the background
(`sim.runner.DayRunner`: patrols, fixes, reports, chiefs acknowledging), and measures "the other
users": probe reports by the district's rangers at `--rate` per second, from `POST /v1/reports` to
the alert on the command center's live stream (`GET /v1/alerts/stream`), as bench/e2e_bench.py
does. Two windows of the same length, one after the other:

  1. baseline: the simulator and the probes only;
  2. under abuse: the same, while at the same time
     a. 1 GiB request bodies are sent to every POST route of every service (from their
        /openapi.json), one after another: declared (`Content-Length: 1073741824`) and streamed
        (`Transfer-Encoding: chunked`), generated on the fly from one 64 KiB block (never held
        in memory), with a token and without; each try stops when the server answers;
     b. reports from ONE public-role token at `--flood-per-min` (10,000 a minute);
     c. `--streams` (500) alert streams opened by ONE person, in waves, the accepted ones held.

Prints and writes (bench/results/abuse.txt, abuse.json, the `abuse` section of latest.json) the
other users' alert latency p50/p99, their errors, lost reports, whether each service stayed ready
(/readyz every second), RSS, and how the abuse was answered (413s, 429s with Retry-After, refused
streams). The ceilings are printed beside the figures; nothing here asserts. All traffic goes to
127.0.0.1.

    .venv/bin/python -m bench.abuse_bench [--window 60] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import (
    System,
    delete_topics,
    exit_on_sigterm,
    open_loop,
    percentile,
    results_path,
    write_section,
)
from bench.e2e_bench import E2E, Phase
from shared.auth import issue_token
from shared.org import Role, load_org
from shared.policy import load_policy
from shared.settings import Settings
from sim.api import Api, Endpoints
from sim.runner import DayRunner
from sim.world import plan_day

GIB = 1 << 30
BLOCK = b"1," * (32 * 1024)  # 64 KiB of the body, sent again and again: nothing more is held
LATENCY_CEILING = 2.0  # under abuse, the other users' p99 at most this × the baseline's


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


# --- raw HTTP/1.1 on asyncio streams (a load generator must cost little, and stop when told) ----


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


async def read_head(reader: asyncio.StreamReader) -> Answer:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split(" ", 2)[1]), headers)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """Status, headers and a Content-Length body (a chunked answer's body is left unread)."""
    answer = await read_head(reader)
    length = int(answer.headers.get("content-length") or 0)
    if length:
        answer.body = await reader.readexactly(length)
    return answer


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    assert host == "127.0.0.1", "abuse goes to loopback only"
    return host, int(port)


# --- (a) 1 GiB bodies --------------------------------------------------------------------------


@dataclass
class BodyTry:
    service: str
    path: str
    mode: str  # "declared" (Content-Length) or "chunked"
    token: bool
    status: int | None = None
    answer_s: float | None = None  # from the head sent to the answer's status line
    sent_bytes: int = 0  # body bytes written when the answer came (or the try ended)
    # The attacker does not stop at the answer: body bytes the server still took after it, and
    # how that ended ("closed" by the server, "stopped reading" for 3 s, or "took all").
    after_bytes: int = 0
    after: str = ""
    end_s: float | None = None  # from the head to that end
    outcome: str = ""  # "answered", "stalled", "reset", "no answer"


async def _write(
    writer: asyncio.StreamWriter, frame: bytes, other: asyncio.Future[Any] | None, stall_s: float
) -> str:
    """Write one frame and wait for it to drain: "" when it did, "answered" when `other` (the
    answer) came first, "stalled" when neither within `stall_s`, "reset" when the peer closed."""
    try:
        writer.write(frame)
    except (ConnectionError, RuntimeError):
        return "reset"
    drain = asyncio.ensure_future(writer.drain())
    waits: set[asyncio.Future[Any]] = {drain} if other is None else {drain, other}
    done, _ = await asyncio.wait(waits, timeout=stall_s, return_when=asyncio.FIRST_COMPLETED)
    if drain not in done:
        drain.cancel()
        return "answered" if other is not None and other in done else "stalled"
    if drain.exception() is not None:
        return "reset"
    return "answered" if other is not None and other.done() else ""


async def big_body(
    t: BodyTry,
    url: str,
    token: str | None,
    *,
    total: int = GIB,
    stall_s: float = 15.0,
    after_stall_s: float = 3.0,
) -> None:
    """POST a `total`-byte body to `t.path`, generated on the fly; after the server's answer, go
    on writing the rest as an attacker would, until the server closes the connection or stops
    reading. Fills in `t`."""
    host, port = host_port(url)
    chunked = t.mode == "chunked"
    reader, writer = await asyncio.open_connection(host, port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST {t.path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()
    frame = (f"{len(BLOCK):x}\r\n".encode() + BLOCK + b"\r\n") if chunked else BLOCK
    t0 = time.perf_counter()
    answer_task = asyncio.ensure_future(read_answer(reader))
    try:
        writer.write(head)
        state = ""
        while t.sent_bytes < total and not answer_task.done():
            state = await _write(writer, frame, answer_task, stall_s)
            if state in ("stalled", "reset"):
                break
            if state == "":
                t.sent_bytes += len(BLOCK)
        try:
            answer = await asyncio.wait_for(answer_task, 10.0)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            t.outcome = state or "no answer"
            return
        t.status, t.answer_s = answer.status, time.perf_counter() - t0
        t.outcome = "answered" if state in ("", "answered") else state
        if state == "reset":
            t.after, t.end_s = "closed", t.answer_s
            return
        eof = asyncio.ensure_future(reader.read(1))  # b"" once the server closes
        while t.sent_bytes + t.after_bytes < total:
            state = await _write(writer, frame, eof, after_stall_s)
            if state == "":
                t.after_bytes += len(BLOCK)
                continue
            t.after = {"answered": "closed", "reset": "closed"}.get(state, "stopped reading")
            break
        else:
            t.after = "took all"
        t.end_s = time.perf_counter() - t0
        eof.cancel()
    finally:
        answer_task.cancel()
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def post_routes(system: System) -> list[tuple[str, str]]:
    """(service, path) of every POST route under /v1 of every service, from its /openapi.json,
    path parameters filled with a made-up id."""
    out: list[tuple[str, str]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for name in system.procs:
            doc = (await client.get(f"{system.url(name)}/openapi.json")).json()
            for path, ops in sorted(doc.get("paths", {}).items()):
                if path.startswith("/v1") and "post" in ops:
                    filled = path
                    while "{" in filled:
                        a, b = filled.index("{"), filled.index("}")
                        filled = filled[:a] + f"abuse-{uuid.uuid4().hex[:8]}" + filled[b + 1 :]
                    out.append((name, filled))
    return out


async def body_abuse(
    urls: dict[str, str],
    routes: list[tuple[str, str]],
    token: str,
    duration_s: float,
    pause_s: float,
) -> list[BodyTry]:
    """Every route × (declared with a token, chunked with a token, chunked without), round after
    round until `duration_s` is up."""
    tries: list[BodyTry] = []
    deadline = time.monotonic() + duration_s
    variants = (("declared", True), ("chunked", True), ("chunked", False))
    while time.monotonic() < deadline:
        for service, path in routes:
            for mode, with_token in variants:
                if time.monotonic() >= deadline:
                    return tries
                t = BodyTry(service, path, mode, with_token)
                try:
                    await big_body(t, urls[service], token if with_token else None)
                except OSError as exc:
                    t.outcome = f"error {exc!r}"
                tries.append(t)
                await asyncio.sleep(pause_s)
    return tries


def body_summary(tries: list[BodyTry]) -> dict[str, Any]:
    answered = [t for t in tries if t.answer_s is not None]
    by_route: dict[str, Counter[str]] = {}
    for t in tries:
        key = f"{t.service} POST {t.path.split('abuse-')[0].rstrip('/')}"
        by_route.setdefault(key, Counter())[
            f"{t.mode}{'' if t.token else ' no token'}: {t.status}"
        ] += 1
    return {
        "tries": len(tries),
        "gib_offered": len(tries),
        "statuses": dict(Counter(str(t.status) for t in tries)),
        "413": sum(1 for t in tries if t.status == 413),
        "outcomes": dict(Counter(t.outcome for t in tries)),
        "answer_p50_ms": _ms(percentile([t.answer_s for t in answered if t.answer_s], 50)),
        "answer_max_ms": _ms(max((t.answer_s or 0 for t in answered), default=None)),
        "max_mib_sent_before_answer": round(
            max((t.sent_bytes for t in tries), default=0) / 2**20, 2
        ),
        "mib_sent_before_answers": round(sum(t.sent_bytes for t in tries) / 2**20, 1),
        "gib_taken_after_answers": round(sum(t.after_bytes for t in tries) / 2**30, 1),
        "after_answer": dict(Counter(t.after for t in tries)),
        "end_p50_ms": _ms(percentile([t.end_s for t in tries if t.end_s is not None], 50)),
        "by_route": {k: dict(v) for k, v in sorted(by_route.items())},
    }


# --- (b) one public token's flood of reports -------------------------------------------------


class Conn:
    """One keep-alive connection, reopened after an error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, auth: str) -> Answer:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {auth}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        try:
            return await asyncio.wait_for(read_answer(self.reader), 30.0)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Flood:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)  # Retry-After values of the 429s
    accepted: list[str] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    lost: int | None = None  # accepted, but not stored in an incident afterwards


async def flood(
    url: str,
    token: str,
    per_min: float,
    duration_s: float,
    points: list[tuple[float, float, str]],
    connections: int = 8,
) -> Flood:
    host, port = host_port(url)
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Conn(host, port))
    out = Flood()

    async def send(i: int) -> bool:
        lat, lon, _ = points[i % len(points)]
        rid = str(uuid.uuid4())
        body = orjson.dumps(
            {
                "id": rid,
                "type": "fire",
                "lat": lat,
                "lon": lon,
                "observed_at": (datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
                "description": "abuse: one public token",
            }
        )
        conn = await pool.get()
        out.sent += 1
        try:
            answer = await conn.post("/v1/reports", body, token)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            out.errors += 1
            return False
        finally:
            pool.put_nowait(conn)
        out.statuses[str(answer.status)] += 1
        if answer.status == 429:
            out.retry_after[answer.headers.get("retry-after", "missing")] += 1
        if answer.status == 202:
            out.accepted.append(rid)
        return answer.status == 202

    result = await open_loop(per_min / 60.0, duration_s, send, max_in_flight=64)
    out.elapsed_s = result.elapsed_s
    while not pool.empty():
        pool.get_nowait().close()
    return out


async def stored(url: str, token: str, report_ids: list[str], wait_s: float) -> int:
    """How many of `report_ids` are not (yet) in an incident after `wait_s`."""
    missing = set(report_ids)
    deadline = time.monotonic() + wait_s
    async with httpx.AsyncClient(timeout=10) as client:
        while missing and time.monotonic() < deadline:
            for rid in sorted(missing):
                r = await client.get(
                    f"{url}/v1/reports/{rid}", headers={"Authorization": f"Bearer {token}"}
                )
                if r.status_code == 200 and r.json().get("incident_id"):
                    missing.discard(rid)
            if missing:
                await asyncio.sleep(1.0)
    return len(missing)


# --- (c) one person's streams --------------------------------------------------------------------


@dataclass
class Streams:
    attempts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    max_open: int = 0
    ended_by_server: int = 0


async def stream_abuse(
    url: str, token: str, n: int, duration_s: float, wave_every_s: float
) -> Streams:
    """Waves of connections to the alert stream by one person until `n` are open (or the time is
    up): the ones answered 200 are held open and read; the others counted and closed."""
    host, port = host_port(url)
    out = Streams()
    held: list[tuple[asyncio.StreamWriter, asyncio.Task[None]]] = []

    async def drain(reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(65536):
                pass
            out.ended_by_server += 1
        except (OSError, asyncio.CancelledError):
            pass

    async def open_one() -> None:
        out.attempts += 1
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                (
                    f"GET /v1/alerts/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
                ).encode()
            )
            head = await asyncio.wait_for(read_head(reader), 15.0)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            out.errors += 1
            return
        out.statuses[str(head.status)] += 1
        if head.status == 200:
            held.append((writer, asyncio.create_task(drain(reader))))
        else:
            out.retry_after[head.headers.get("retry-after", "missing")] += 1
            writer.close()

    deadline = time.monotonic() + duration_s
    try:
        while time.monotonic() < deadline:
            alive = sum(1 for _, task in held if not task.done())
            await asyncio.gather(*(open_one() for _ in range(max(0, n - alive))))
            out.max_open = max(out.max_open, sum(1 for _, task in held if not task.done()))
            await asyncio.sleep(min(wave_every_s, max(0.0, deadline - time.monotonic())))
    finally:
        for writer, task in held:
            task.cancel()
            writer.close()
    return out


def attack(spec: tuple[Any, ...]) -> tuple[Any, float]:
    """Runs one attacker (`spec`: the coroutine function and its arguments) in this process;
    (its result, the CPU seconds it used: on a small machine the attackers' own CPU is taken
    from the services)."""
    func, *rest = spec
    cpu0 = time.process_time()
    result = asyncio.run(func(*rest))
    return result, round(time.process_time() - cpu0, 1)


# --- the services, watched ---------------------------------------------------------------------


@dataclass
class Watch:
    checks: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    rss_max: dict[str, int] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds each used in the window


def cpu_seconds(system: System) -> dict[str, float]:
    import psutil

    out: dict[str, float] = {}
    for name, proc in system.procs.items():
        try:
            times = psutil.Process(proc.proc.pid).cpu_times() if proc.proc else None
        except psutil.Error:
            times = None
        if times is not None:
            out[name] = times.user + times.system
    return out


async def watch_services(system: System, stop: asyncio.Event, out: Watch) -> None:
    """Each service's /readyz every second (2 s timeout), its RSS and its CPU time."""
    cpu0 = cpu_seconds(system)
    async with httpx.AsyncClient(timeout=2.0) as client:
        while not stop.is_set():
            for name, proc in system.procs.items():
                out.checks[name] += 1
                try:
                    ok = (await client.get(f"{proc.url}/readyz")).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    out.failed[name] += 1
                rss = proc.rss()
                if rss is not None:
                    out.rss_max[name] = max(out.rss_max.get(name, 0), rss)
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
    cpu1 = cpu_seconds(system)
    out.cpu_s = {k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1}


def failures_of(calls: Counter[str]) -> int:
    """The simulator's calls answered 5xx, 429 or not at all ("METHOD status" keys)."""
    n = 0
    for key, count in calls.items():
        status = int(key.rsplit(" ", 1)[1])
        if status == 0 or status == 429 or status >= 500:
            n += count
    return n


class Probe(E2E):
    """The measured users: each village's rangers in turn (no one near their own limit)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turn: Counter[str] = Counter()

    def reporter(self, village: str) -> str:
        rangers = sorted(p.id for p in self.org.people_in(village, Role.RANGER))
        self.turn[village] += 1
        return rangers[self.turn[village] % len(rangers)]


@dataclass
class Window:
    label: str
    phase: Phase
    watch: Watch
    sim_failures: int
    sim_errors: dict[str, int]
    abuse: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        p = self.phase
        return {
            "window": self.label,
            "probe_reports": len(p.sent),
            "probe_accepted": len(p.accepted),
            "alert_p50_ms": _ms(percentile(p.latencies_s, 50)),
            "alert_p99_ms": _ms(percentile(p.latencies_s, 99)),
            "alert_max_ms": _ms(max(p.latencies_s, default=None)),
            "post_p99_ms": _ms(percentile(p.post_latencies_s, 99)),
            "probe_errors": len(p.sent) - len(p.accepted),
            "sim_errors": self.sim_failures + sum(self.sim_errors.values()),
            "lost": len(p.lost),
            "readyz_failed": sum(self.watch.failed.values()),
            "readyz_checks": sum(self.watch.checks.values()),
            "rss_max_mb": {k: round(v / 2**20) for k, v in sorted(self.watch.rss_max.items())},
            "cpu_s": dict(sorted(self.watch.cpu_s.items())),
        }


async def window(
    label: str,
    args: argparse.Namespace,
    system: System,
    probe: Probe,
    api: Api,
    runner: DayRunner,
    abuse: Callable[[], Awaitable[dict[str, Any]]] | None,
) -> Window:
    calls0, errors0 = Counter(api.calls), Counter(runner.tally.errors)
    watch, stop = Watch(), asyncio.Event()
    watcher = asyncio.create_task(watch_services(system, stop, watch))
    abuse_task = asyncio.create_task(abuse()) if abuse else None
    print(f"[abuse] {label}: {args.rate:g} probe reports/s for {args.window:g} s", flush=True)
    phase = await probe.run_phase(args.rate, args.window, drain_s=args.drain, max_drain_s=120)
    result = await abuse_task if abuse_task else None
    stop.set()
    await watcher
    calls = Counter(api.calls)
    calls.subtract(calls0)
    errors = Counter(runner.tally.errors)
    errors.subtract(errors0)
    w = Window(
        label,
        phase,
        watch,
        failures_of(+calls),
        dict(+errors),
        result,
    )
    print(f"[abuse] {label}: {w.row()}", flush=True)
    return w


# --- the report ----------------------------------------------------------------------------------


def table(base: Window, under: Window, all_up: bool, sim_lost: int | None) -> list[list[str]]:
    b, u = base.row(), under.row()
    ceiling_p99 = (b["alert_p99_ms"] or 0) * LATENCY_CEILING

    def ok(good: bool) -> str:
        return "yes" if good else "NO"

    rows = [
        ["measure", "baseline", "under abuse", "ceiling", "within"],
        ["other users' alert p50 (ms)", str(b["alert_p50_ms"]), str(u["alert_p50_ms"]), "–", ""],
        [
            "other users' alert p99 (ms)",
            str(b["alert_p99_ms"]),
            str(u["alert_p99_ms"]),
            f"{ceiling_p99:.0f} (2× baseline)",
            ok((u["alert_p99_ms"] or 1e9) <= ceiling_p99),
        ],
        ["their POST /v1/reports p99 (ms)", str(b["post_p99_ms"]), str(u["post_p99_ms"]), "–", ""],
        [
            "errors, probe users (of reports sent)",
            f"{b['probe_errors']} of {b['probe_reports']}",
            f"{u['probe_errors']} of {u['probe_reports']}",
            "0",
            ok(u["probe_errors"] == 0 and b["probe_errors"] == 0),
        ],
        [
            "errors, simulated district (5xx/429/none)",
            str(b["sim_errors"]),
            str(u["sim_errors"]),
            "0",
            ok(u["sim_errors"] == 0 and b["sim_errors"] == 0),
        ],
        [
            "lost probe reports (accepted, no alert)",
            str(b["lost"]),
            str(u["lost"]),
            "0",
            ok(u["lost"] == 0 and b["lost"] == 0),
        ],
        [
            "/readyz failed (of checks, 1/s each)",
            f"{b['readyz_failed']} of {b['readyz_checks']}",
            f"{u['readyz_failed']} of {u['readyz_checks']}",
            "0",
            ok(u["readyz_failed"] == 0 and b["readyz_failed"] == 0),
        ],
        ["every service process alive at the end", "", ok(all_up), "yes", ok(all_up)],
    ]
    if sim_lost is not None:
        rows.append(
            ["simulator's reports lost (whole run)", "", str(sim_lost), "0", ok(sim_lost == 0)]
        )
    for name in sorted(u["rss_max_mb"]):
        rows.append(
            [
                f"RSS max, {name} (MB)",
                str(b["rss_max_mb"].get(name)),
                str(u["rss_max_mb"].get(name)),
                "–",
                "",
            ]
        )
    for name in sorted(u["cpu_s"]):
        rows.append(
            [f"CPU s, {name}", str(b["cpu_s"].get(name)), str(u["cpu_s"].get(name)), "–", ""]
        )
    return rows


def abuse_table(abuse: dict[str, Any], limits: dict[str, Any]) -> list[list[str]]:
    body, fl, st = abuse["bodies"], abuse["flood"], abuse["streams"]
    flood_429 = fl["statuses"].get("429", 0)
    with_ra = flood_429 - fl["retry_after"].get("missing", 0)
    stream_429 = st["statuses"].get("429", 0)
    stream_other = {k: v for k, v in st["statuses"].items() if k not in ("200", "429")}
    return [
        ["abuse", "sent", "answered", "expected"],
        [
            "1 GiB bodies to every POST route",
            f"{body['tries']} tries of 1 GiB",
            f"413: {body['413']} of {body['tries']} (statuses {body['statuses']}); answer p50 "
            f"{body['answer_p50_ms']} ms, max {body['answer_max_ms']} ms, after at most "
            f"{body['max_mib_sent_before_answer']} MiB; after the answer the server "
            f"{body['after_answer']} ({body['gib_taken_after_answers']} GiB read and dropped, "
            f"p50 {body['end_p50_ms']} ms to the end of a try)",
            f"413 at {limits['max_body_bytes']:,} B (hotspots {limits['max_hotspot_bytes']:,} B)",
        ],
        [
            f"{abuse['flood_per_min']:,.0f} reports/min, one public token",
            f"{fl['sent']:,} in {fl['elapsed_s']:.0f} s",
            f"202: {fl['statuses'].get('202', 0)}, 429: {flood_429} ({with_ra} with Retry-After "
            f"{sorted(k for k in fl['retry_after'] if k != 'missing')}), other "
            f"{ {k: v for k, v in fl['statuses'].items() if k not in ('202', '429')} }, "
            f"no answer {fl['errors']}; accepted but lost {fl['lost']}",
            f"{limits['public_per_min']}/min accepted, then 429 + Retry-After",
        ],
        [
            f"{abuse['streams_wanted']} streams, one person",
            f"{st['attempts']:,} attempts",
            f"200: {st['statuses'].get('200', 0)} (max open at once {st['max_open']}), refused "
            f"429: {stream_429}, other {stream_other}, "
            f"no answer {st['errors']}",
            f"at most {limits['streams_per_person']} open",
        ],
    ]


def render(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    org = load_org(settings.org_file)
    policy = load_policy(settings.policy_file)
    from services.incidents.settings import IncidentsSettings

    limits = {
        "max_body_bytes": settings.max_body_bytes,
        "max_hotspot_bytes": IncidentsSettings().max_hotspot_bytes,
        "public_per_min": policy.limits.reports_for("public"),
        "streams_per_person": policy.limits.streams_per_person,
    }
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="hulin-abuse-"))
    system = System(log_dir=log_dir)
    print(f"[abuse] services (prefix {system.prefix}, db {system.db}, logs {log_dir})", flush=True)
    people = sorted(org.people.values(), key=lambda p: p.id)
    publics = [p.id for p in people if p.role is Role.PUBLIC]
    abuser = publics[-1]
    streamer = next(p.id for p in people if p.role is Role.TOWNSHIP_CHIEF)
    hq = next(p.id for p in people if p.role is Role.HQ)
    tokens = {pid: issue_token(pid, settings, ttl_s=24 * 3600) for pid in (abuser, streamer, hq)}

    # the day: long enough to cover both windows; the abuser's reports are not the sim's
    wall = 2 * args.window + 2 * args.drain + 90
    plan = plan_day(org, random.Random(args.seed), walkers=args.rangers, day_s=wall * args.speedup)
    others = [p for p in publics if p != abuser]
    plan = replace(
        plan,
        reports=[
            replace(r, person_id=others[0]) if r.person_id == abuser and others else r
            for r in plan.reports
        ],
    )
    await system.start()
    out: dict[str, Any] = {}
    try:
        endpoints = Endpoints(system.url("patrol"), system.url("incidents"), system.url("notify"))
        routes = await post_routes(system)
        print(f"[abuse] POST routes: {routes}", flush=True)
        async with Probe(system, org, settings) as probe, Api(endpoints, settings=settings) as api:
            rng = random.Random(args.seed)
            rng.shuffle(probe.slots.points)
            half = len(probe.slots.points) // 2
            probe.slots.points, abuse_points = probe.slots.points[:half], probe.slots.points[half:]
            await probe.warm_up()
            runner = DayRunner(
                api=api,
                org=org,
                policy=policy,
                plan=plan,
                speedup=args.speedup,
                ack_prob=0.4,
                seed=args.seed,
                quiet=True,
            )
            sim = asyncio.create_task(runner.run())
            await asyncio.sleep(args.settle)
            base = await window("baseline", args, system, probe, api, runner, None)
            await asyncio.sleep(args.pause)

            urls = {name: system.url(name) for name in system.procs}
            wanted = set(args.attacks.split(","))
            attacks: list[tuple[str, Any]] = [
                ("bodies", (body_abuse, urls, routes, tokens[hq], args.window, args.body_pause)),
                (
                    "flood",
                    (
                        flood,
                        urls["incidents"],
                        tokens[abuser],
                        args.flood_per_min,
                        args.window,
                        abuse_points,
                    ),
                ),
                (
                    "streams",
                    (
                        stream_abuse,
                        urls["notify"],
                        tokens[streamer],
                        args.streams,
                        args.window,
                        10.0,
                    ),
                ),
            ]
            attacks = [a for a in attacks if a[0] in wanted]

            async def abuse() -> dict[str, Any]:
                # Each attacker in a process of its own: the probes' event loop (whose clock
                # measures the other users) is not the one flooding
                loop = asyncio.get_running_loop()
                ctx = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=len(attacks), mp_context=ctx) as pool:
                    done = await asyncio.gather(
                        *(loop.run_in_executor(pool, attack, spec) for _, spec in attacks)
                    )
                out = {name: result for (name, _), (result, _) in zip(attacks, done, strict=True)}
                out["attacker_cpu_s"] = {
                    name: cpu for (name, _), (_, cpu) in zip(attacks, done, strict=True)
                }
                return out

            under = await window("under abuse", args, system, probe, api, runner, abuse)
            assert under.abuse is not None
            under.abuse.setdefault("bodies", [])
            under.abuse.setdefault("flood", Flood())
            under.abuse.setdefault("streams", Streams())
            fl = under.abuse["flood"]
            fl.lost = await stored(
                system.url("incidents"), tokens[abuser], fl.accepted, wait_s=args.drain + 20
            )
            print("[abuse] waiting for the simulated day to end", flush=True)
            try:
                await asyncio.wait_for(sim, timeout=wall + 120)
            except TimeoutError:
                print("[abuse] the simulated day did not end in time; cut short", flush=True)
            summary = await runner.summarize(settle_s=30, wall_start=time.monotonic())
            sim_lost = summary.lost
            all_up = all(
                p.proc is not None and p.proc.poll() is None for p in system.procs.values()
            )
    finally:
        system.stop()
        if not args.keep:
            await system.drop_database()
            await delete_topics(settings.kafka_bootstrap, system.prefix)
    abuse = {
        "bodies": body_summary(under.abuse["bodies"]),
        "flood": {
            "sent": fl.sent,
            "elapsed_s": round(fl.elapsed_s, 1),
            "statuses": dict(fl.statuses),
            "retry_after": dict(fl.retry_after),
            "errors": fl.errors,
            "accepted": len(fl.accepted),
            "lost": fl.lost,
        },
        "streams": {
            "attempts": under.abuse["streams"].attempts,
            "statuses": dict(under.abuse["streams"].statuses),
            "retry_after": dict(under.abuse["streams"].retry_after),
            "errors": under.abuse["streams"].errors,
            "max_open": under.abuse["streams"].max_open,
            "ended_by_server": under.abuse["streams"].ended_by_server,
        },
        "flood_per_min": args.flood_per_min,
        "streams_wanted": args.streams,
        "attacks": args.attacks,
        "attacker_cpu_s": under.abuse.get("attacker_cpu_s", {}),
    }
    rows = table(base, under, all_up, sim_lost)
    arows = abuse_table(abuse, limits)
    text = (
        f"make abuse: {args.rate:g} probe reports/s beside a simulated district day "
        f"({args.rangers} patrols, ×{args.speedup:g}), two windows of {args.window:g} s\n\n"
        + render(rows)
        + "\n\nHow the abuse was answered:\n\n"
        + render(arows)
        + f"\n\nAttacks: {args.attacks}; the attackers' own CPU seconds (same machine): "
        + f"{abuse['attacker_cpu_s']}\n"
    )
    print(text, flush=True)
    out = {
        "command": args.command,
        "window_s": args.window,
        "probe_rate_per_s": args.rate,
        "baseline": base.row(),
        "under_abuse": under.row(),
        "all_services_alive": all_up,
        "sim_reports_lost": sim_lost,
        "sim_summary": summary.as_dict(),
        "abuse": abuse,
        "limits": limits,
        "table": [dict(zip(rows[0], r, strict=True)) for r in rows[1:]],
        "abuse_table": [dict(zip(arows[0], r, strict=True)) for r in arows[1:]],
    }
    path = results_path("abuse.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
    results_path("abuse.txt").write_text(text)
    write_section("abuse", {k: v for k, v in out.items() if k != "sim_summary"})
    return out


def passed(out: dict[str, Any]) -> bool:
    b, u = out["baseline"], out["under_abuse"]
    return bool(
        (u["alert_p99_ms"] or 1e9) <= LATENCY_CEILING * (b["alert_p99_ms"] or 0)
        and u["probe_errors"] == 0
        and u["sim_errors"] == 0
        and u["lost"] == 0
        and u["readyz_failed"] == 0
        and out["all_services_alive"]
        and not out["sim_reports_lost"]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--window", type=float, default=60.0, help="seconds of each window")
    p.add_argument("--rate", type=float, default=10.0, help="probe reports/s (the other users)")
    p.add_argument("--rangers", type=int, default=36, help="patrols in the simulated day")
    p.add_argument("--speedup", type=float, default=30.0, help="simulated seconds per second")
    p.add_argument("--settle", type=float, default=10.0, help="seconds of simulation before")
    p.add_argument("--pause", type=float, default=5.0, help="seconds between the windows")
    p.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="seconds without a new alert before the rest count as lost",
    )
    p.add_argument("--flood-per-min", type=float, default=10_000.0)
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--body-pause", type=float, default=1.0, help="seconds between 1 GiB tries")
    p.add_argument(
        "--attacks",
        default="bodies,flood,streams",
        help="which abuse runs in the second window (to see which one costs the others what)",
    )
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--log-dir", default=None)
    p.add_argument("--keep", action="store_true", help="keep the database and topics")
    args = p.parse_args(argv)
    args.command = "python -m bench.abuse_bench " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    return args


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    out = asyncio.run(run(parse_args(argv)))
    return 0 if passed(out) else 1


if __name__ == "__main__":
    sys.exit(main())

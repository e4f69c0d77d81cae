"""Notify alone: incident events published straight to Kafka → the alert on the command center's
live stream, with a store already holding many notifications, alerts and webhook deliveries.

Starts notify as a subprocess (own topic prefix, database and port), pre-fills its store through
notify's own write path (so the documents look like production's), subscribes an HQ webhook (a
local receiver answering 204) and a command-center SSE client, then publishes a realistic mix —
incident.opened, .updated (merged reports), .escalated, .acknowledged — open loop at `--rate`
events/s, and reports publish → SSE p50/p99 and alerts missing after the drain.
Prints figures; asserts nothing about timing.

    flock /tmp/hulin-bench.lock .venv/bin/python -m bench.notify_bench --rate 100 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import System, delete_topics, exit_on_sigterm, percentile
from shared.auth import issue_token
from shared.events import (
    Event,
    IncidentAcknowledged,
    IncidentAcknowledgedData,
    IncidentChangeData,
    IncidentEscalated,
    IncidentEscalatedData,
    IncidentOpened,
    IncidentSnapshot,
    IncidentUpdated,
)
from shared.kafka import Publisher
from shared.org import Level, OrgDirectory, Role, load_org
from shared.settings import Settings

TYPES = ("fire", "pest", "illegal_logging", "wildlife_damage", "smoke")


class Incidents:
    """Synthetic incidents and the events about them."""

    def __init__(self, org: OrgDirectory, seed: int = 7) -> None:
        self.villages = [u.code for u in org.units.values() if u.level is Level.VILLAGE]
        self.rng = random.Random(seed)
        self.open: list[IncidentSnapshot] = []

    def opened(self) -> Event:
        village = self.rng.choice(self.villages)
        t = self.rng.choice(TYPES)
        now = datetime.now(UTC)
        snap = IncidentSnapshot(
            id=str(uuid.uuid4()), type=t,
            family="fire" if t in ("fire", "smoke") else "other",
            status="reported", severity="general", verified=True, village=village,
            township=village[:9], district=village[:6], lat=29.43, lon=108.65,
            report_ids=(str(uuid.uuid4()),), escalation_level=0, opened_at=now, observed_at=now,
            neighbour_units=(), police=t == "illegal_logging", reporter_id=f"rg-{village}-1",
        )
        self.open.append(snap)
        if len(self.open) > 2000:
            self.open.pop(0)
        return IncidentOpened.new(
            IncidentChangeData(incident=snap, reason="report", report_id=snap.report_ids[0]),
            key=snap.id, producer="bench",
        )

    def _pick(self) -> tuple[int, IncidentSnapshot]:
        i = self.rng.randrange(len(self.open))
        return i, self.open[i]

    def updated(self) -> Event:
        i, snap = self._pick()
        rid = str(uuid.uuid4())
        snap = snap.model_copy(update={"report_ids": (*snap.report_ids, rid)})
        self.open[i] = snap
        return IncidentUpdated.new(
            IncidentChangeData(incident=snap, reason="report_merged", report_id=rid),
            key=snap.id, producer="bench",
        )

    def escalated(self) -> Event:
        i, snap = self._pick()
        a = snap.escalation_level
        if a >= 3:
            return self.updated()
        snap = snap.model_copy(update={"escalation_level": a + 1})
        self.open[i] = snap
        return IncidentEscalated.new(
            IncidentEscalatedData(incident=snap, reason="deadline", from_level=a, to_level=a + 1,
                                  at=datetime.now(UTC)),
            key=snap.id, producer="bench",
        )

    def acknowledged(self) -> Event:
        i, snap = self._pick()
        snap = snap.model_copy(update={"status": "acknowledged"})
        self.open[i] = snap
        return IncidentAcknowledged.new(
            IncidentAcknowledgedData(incident=snap, reason="ack", actor=f"vc-{snap.village}",
                                     at=datetime.now(UTC)),
            key=snap.id, producer="bench",
        )

    def next(self) -> Event:
        r = self.rng.random()
        if r < 0.5 or len(self.open) < 20:
            return self.opened()
        if r < 0.8:
            return self.updated()
        if r < 0.92:
            return self.escalated()
        return self.acknowledged()


HOOKS: list[bytes] = []  # the X-Hulin-Delivery of every webhook request received


async def receiver() -> tuple[asyncio.Server, int]:
    """A webhook endpoint answering 204 to everything (HTTP/1.1 keep-alive)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                    elif line.lower().startswith(b"x-hulin-delivery:"):
                        HOOKS.append(line.split(b":", 1)[1].strip())
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def prefill(settings: Settings, gen: Incidents, n_events: int) -> None:
    """Runs notify's own handlers in this process (publishing nowhere) to fill the store."""
    from services.notify.app import chain_notifications
    from services.notify.catalog import load_catalog
    from services.notify.domain.delivery_queue import DeliveryQueue
    from services.notify.repository import COLLECTIONS, mongo_store
    from services.notify.settings import NotifySettings
    from shared.clock import SystemClock
    from shared.db import connect, database, ensure_indexes
    from shared.policy import load_policy

    class NoPublisher:
        async def publish(self, event: Event, *, key: str | None = None) -> None: ...
        async def publish_many(self, events: Any, *, key: str | None = None) -> None: ...

    client = connect(settings)
    db = database(client, settings)
    await ensure_indexes(db, COLLECTIONS)
    org = load_org(settings.org_file)
    notify = NotifySettings(org_file=settings.org_file, policy_file=settings.policy_file)
    chain = chain_notifications(
        store=mongo_store(db), org=org, policy=load_policy(settings.policy_file),
        catalog=load_catalog(), publisher=NoPublisher(),  # type: ignore[arg-type]
        clock=SystemClock(), settings=notify,
        queue=DeliveryQueue(remember_done=notify.webhook_done_remembered),
    )
    t0 = time.perf_counter()
    done = 0
    while done < n_events:
        batch = [gen.opened() for _ in range(min(500, n_events - done))]
        await chain.handle(batch)  # type: ignore[arg-type]
        done += len(batch)
    print(f"prefill: {n_events} incidents in {time.perf_counter() - t0:.1f} s", flush=True)
    await client.close()


async def main(args: argparse.Namespace) -> None:
    system = System(names=["notify"], extra_env={"HULIN_LOG_LEVEL": "WARNING"},
                    log_dir=Path(args.log_dir) if args.log_dir else None)
    env = system.env()
    settings = Settings(topic_prefix=env["HULIN_TOPIC_PREFIX"], mongo_db=env["HULIN_MONGO_DB"],
                        service="notify")
    org = load_org(settings.org_file)
    gen = Incidents(org)
    if args.prefill:
        await prefill(settings, gen, args.prefill)
    hook_server, hook_port = await receiver()
    await system.start()
    publisher = Publisher(settings)
    await publisher.start()
    url = system.url("notify")
    cc = next(p for p in org.people.values() if p.role is Role.COMMAND_CENTER)
    hq = next(p for p in org.people.values() if p.role is Role.HQ)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.post(f"{url}/v1/webhooks",
                             headers={"Authorization": f"Bearer {issue_token(hq.id, settings)}"},
                             json={"url": f"http://127.0.0.1:{hook_port}/hook", "secret": "s",
                                   "types": ["incident.escalated"]})
            r.raise_for_status()
        connected = asyncio.Event()

        async def read_stream() -> None:
            headers = {"Authorization": f"Bearer {issue_token(cc.id, settings)}"}
            async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=120)) as c, \
                    c.stream("GET", f"{url}/v1/alerts/stream", headers=headers) as resp:
                connected.set()
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        ev = orjson.loads(line[5:])
                        got.setdefault(ev["event_id"], time.perf_counter())

        reader = asyncio.create_task(read_stream())
        await asyncio.wait_for(connected.wait(), 10)
        # warm up (the consumer joins its group): events until they arrive, not measured
        for _ in range(120):
            warm = gen.opened()
            await publisher.publish(warm)
            await asyncio.sleep(0.5)
            if str(warm.id) in got:
                break
        await asyncio.sleep(1)
        got.clear()

        pending: set[asyncio.Task[None]] = set()
        acked: list[float] = []

        escalated_ids: set[str] = set()

        async def publish(event: Event) -> None:
            if isinstance(event, IncidentEscalated):
                escalated_ids.add(str(event.id))
            t0 = sent[str(event.id)] = time.perf_counter()
            await publisher.publish(event)
            acked.append(time.perf_counter() - t0)

        spy = None
        if args.profile:  # py-spy over the measured run (raw stacks, for a flame graph)
            import subprocess
            import sys
            proc = system.procs["notify"].proc
            assert proc is not None
            spy = subprocess.Popen(  # noqa: ASYNC220 - starts a profiler; returns at once
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(proc.pid),
                 "--duration", str(int(args.duration)), "--format", "raw", "-o", args.profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = time.perf_counter()
        n = int(args.rate * args.duration)
        for i in range(n):
            delay = start + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(publish(gen.next()))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        deadline = time.perf_counter() + args.drain
        while time.perf_counter() < deadline and any(k not in got for k in sent):  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # `got` is filled by the stream reader as alerts arrive
        reader.cancel()
        if args.metrics:
            async with httpx.AsyncClient(timeout=10) as c:
                text = (await c.get(f"{url}/metrics")).text
            for line in text.splitlines():
                if line.startswith(("hulin_handler_seconds_sum", "hulin_handler_seconds_count",
                                    "hulin_consumer_lag", "hulin_stream_tail_reads_total")):
                    print(line)
        if spy is not None:
            spy.wait()
        lat = [got[k] - t for k, t in sent.items() if k in got]
        missing = sum(1 for k in sent if k not in got)
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        print(f"rate {args.rate}/s × {args.duration} s, prefill {args.prefill}: "
              f"{len(sent)} events, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
              f"max {max(lat) * 1000:.0f} ms, missing {missing}; publish acked p50 "
              f"{percentile(acked, 50) * 1000:.0f} ms p99 {percentile(acked, 99) * 1000:.0f} ms"
              if lat else
              f"no event arrived of {len(sent)}", flush=True)
        escalations = sum(1 for k in sent if k in escalated_ids)
        hooks_by = time.perf_counter() + 5  # the last escalations' webhooks are a tick behind
        while len(set(HOOKS)) < escalations and time.perf_counter() < hooks_by:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # HOOKS is filled by the receiver as webhooks arrive
        print(f"webhooks: {len(HOOKS)} requests, {len(set(HOOKS))} deliveries, for "
              f"{escalations} escalations published (the subscription's type)", flush=True)
    finally:
        await publisher.stop()
        system.stop()
        hook_server.close()
        await system.drop_database()
        await delete_topics(settings.kafka_bootstrap, settings.topic_prefix)


if __name__ == "__main__":
    exit_on_sigterm()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--prefill", type=int, default=5000, help="incidents stored before the run")
    ap.add_argument("--drain", type=float, default=30)
    ap.add_argument("--profile", default="", help="py-spy raw stacks of notify to this file")
    ap.add_argument("--metrics", action="store_true", help="print handler metrics at the end")
    ap.add_argument("--log-dir", default="", help="keep the service log here")
    asyncio.run(main(ap.parse_args()))

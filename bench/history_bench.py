"""Issue 15's measure: each read endpoint on a young store (a full page for every reader), and
again after a year's history is preloaded, in the same run, same store, same process.

Starts notify and incidents as subprocesses (own database, topic prefix and ports), fills their
stores through their own write paths (notify's incident handlers, publishing nowhere:
`bench.notify_bench.prefill`; the incidents store's staged, claimed and listed commits), and times
each read over HTTP as its user makes it: a village's, a township's and the district's incidents,
one incident, a village chief's and a district chief's inbox (all and unread), the command
center's alerts. Then it preloads `--incidents` more of each and times the same reads again.

    flock /tmp/hulin-bench.lock .venv/bin/python -m bench.history_bench [--incidents 20000]

Prints a Markdown table (p50/p99 in ms, empty and preloaded, their ratio, against the targets:
p99 ≤ 100 ms and ≤ 1.5× young) and writes it to bench/results/history.json. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import System, exit_on_sigterm, percentile, results_path, write_section
from bench.notify_bench import Incidents, prefill
from shared.auth import issue_token
from shared.org import Level, OrgDirectory, Person, Role, load_org
from shared.settings import Settings

P99_CEILING_MS = 100.0
GROWTH_CEILING = 1.5


STATUS_MIX = ("closed",) * 14 + ("false_alarm", "resolved", "responding", "acknowledged")


async def preload_incidents(settings: Settings, org: OrgDirectory, n: int, seed: int) -> str:
    """`n` incidents of the past year through the incidents store's own write path (staged,
    claimed, written, listed; then published as the relay would), nearly all closed, spread over
    the district's villages. Returns the id of one of them."""
    from services.incidents.domain.escalation import next_timer_at
    from services.incidents.domain.incident import Incident
    from services.incidents.repository import IncidentsRepository, indexes_for
    from services.incidents.repository.mapping import to_doc
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
    some = ""
    try:
        for start in range(0, n, 200):
            docs = []
            for _ in range(min(200, n - start)):
                village = rng.choice(villages)
                at = now - timedelta(seconds=rng.uniform(3600, 365 * 86400))
                incident = Incident(
                    id=str(uuid.uuid4()),
                    type=rng.choice(("fire", "pest", "illegal_logging")),
                    family="other",
                    status=rng.choice(STATUS_MIX),
                    verified=True,
                    village=village,
                    township=village[:9],
                    district=village[:6],
                    lat=29.4,
                    lon=108.6,
                    report_ids=tuple(str(uuid.uuid4()) for _ in range(3)),
                    level_reached_at=at,
                    opened_at=at,
                    observed_at=at,
                    last_observed_at=at,
                    updated_at=at + timedelta(hours=2),
                    version=1,
                )
                docs.append(to_doc(incident, next_timer_at(policy, incident)))
            claimed = await repo.commit_many([(0, d, []) for d in docs], at=now)
            await repo.mark_published(claimed)
            some = docs[0]["_id"]
    finally:
        await client.close()
    return some


Read = tuple[str, str, dict[str, Any], str]  # service, path, query, bearer token


def readers(org: OrgDirectory, settings: Settings, incident_id: str) -> dict[str, Read]:
    """Each read as its user makes it."""

    def first(role: Role) -> Person:
        return sorted((p for p in org.people.values() if p.role is role), key=lambda p: p.id)[0]

    def token(role: Role) -> str:
        return issue_token(first(role).id, settings)

    village, township = first(Role.VILLAGE_CHIEF).unit, first(Role.TOWNSHIP_CHIEF).unit
    vc, tc, cc = token(Role.VILLAGE_CHIEF), token(Role.TOWNSHIP_CHIEF), token(Role.COMMAND_CENTER)
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
        "one incident": ("incidents", f"/v1/incidents/{incident_id}", {}, cc),
        "inbox, village chief": ("notify", "/v1/inbox", {"limit": 20}, vc),
        "inbox unread, village chief": ("notify", "/v1/inbox", {"limit": 20, "unread": "true"}, vc),
        "inbox, district chief": ("notify", "/v1/inbox", {"limit": 20}, token(Role.DISTRICT_CHIEF)),
        "alerts, command center": ("notify", "/v1/alerts", {"limit": 100}, cc),
    }


async def measure(
    system: System, reads: dict[str, Read], reps: int
) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    async with httpx.AsyncClient(timeout=30) as client:
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
                r.raise_for_status()
                if i >= 2:  # the first two warm the caches and the connection
                    times.append(elapsed)
            out[name] = {"p50": percentile(times, 50), "p99": percentile(times, 99)}
    return out


def table(
    empty: dict[str, dict[str, float | None]],
    full: dict[str, dict[str, float | None]],
    incidents: tuple[int, int],
) -> list[dict[str, Any]]:
    rows = []
    for name in empty:
        e99, f99 = empty[name]["p99"] or 0.0, full[name]["p99"] or 0.0
        ratio = f99 / e99 if e99 else None
        rows.append(
            {
                "read": name,
                "p50 young ms": round(empty[name]["p50"] or 0.0, 1),
                "p99 young ms": round(e99, 1),
                f"p50 at {incidents[1]:,} ms": round(full[name]["p50"] or 0.0, 1),
                f"p99 at {incidents[1]:,} ms": round(f99, 1),
                "growth": round(ratio, 2) if ratio else None,
                "within target": f99 <= P99_CEILING_MS and (ratio or 0) <= GROWTH_CEILING,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    heads = list(rows[0])
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(str(r[h]) for h in heads) + " |" for r in rows]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    system = System(
        names=["notify", "incidents"],
        extra_env={"HULIN_LOG_LEVEL": "WARNING"},
        log_dir=Path(args.log_dir) if args.log_dir else None,
    )
    env = system.env()
    common = {"topic_prefix": env["HULIN_TOPIC_PREFIX"], "mongo_db": env["HULIN_MONGO_DB"]}
    notify, incidents = (
        Settings(**common, service="notify"),
        Settings(**common, service="incidents"),
    )
    org = load_org(notify.org_file)
    gen = Incidents(org)
    await prefill(notify, gen, args.empty)
    one = await preload_incidents(incidents, org, args.empty, seed=1)
    await system.start()
    try:
        reads = readers(org, notify, one)
        empty = await measure(system, reads, args.reps)
        t0 = time.perf_counter()
        await prefill(notify, gen, args.incidents)
        await preload_incidents(incidents, org, args.incidents, seed=2)
        preload_s = time.perf_counter() - t0
        full = await measure(system, reads, args.reps)
    finally:
        system.stop()
        await system.drop_database()
    rows = table(empty, full, (args.empty, args.empty + args.incidents))
    print(markdown(rows), flush=True)
    print(
        f"preload: {args.incidents:,} incidents with their alerts and notifications (notify's "
        f"write path) and {args.incidents:,} stored incidents (the incidents store's) in "
        f"{preload_s:.0f} s",
        flush=True,
    )
    data = {
        "command": "make bench-history",
        "rows": rows,
        "preload_s": round(preload_s, 1),
        "incidents": args.empty + args.incidents,
        "ceilings": {"p99_ms": P99_CEILING_MS, "growth": GROWTH_CEILING},
    }
    results_path("history.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    write_section("history", data)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--empty",
        type=int,
        default=2000,
        help="incidents before the first measure (enough for a full page each)",
    )
    p.add_argument("--incidents", type=int, default=20_000, help="incidents preloaded after it")
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--log-dir", default=None)
    return p.parse_args(argv)


if __name__ == "__main__":
    exit_on_sigterm()
    asyncio.run(main(parse()))

"""Issue 15's measure: each read endpoint on a young store (a full page for every reader), and
again after a year's history is preloaded, in the same run, same store, same process.

Starts notify as a subprocess (own database, topic prefix and port), fills its store through
notify's own write path (`bench.notify_bench.prefill`: the incident handlers, publishing nowhere),
and times each read over HTTP as its user would call it: a village chief's and a district chief's
inbox (all and unread), the command center's alerts. Then it preloads `--incidents` more incidents
(each makes an alert and the notifications of its chain) and times the same reads again.

    flock /tmp/hulin-bench.lock .venv/bin/python -m bench.history_bench [--incidents 20000]

Prints a Markdown table (p50/p99 in ms, empty and preloaded, their ratio, against the targets:
p99 ≤ 100 ms and ≤ 1.5× young) and writes it to bench/results/history.json. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import System, exit_on_sigterm, percentile, results_path, write_section
from bench.notify_bench import Incidents, prefill
from shared.auth import issue_token
from shared.org import OrgDirectory, Role, load_org
from shared.settings import Settings

P99_CEILING_MS = 100.0
GROWTH_CEILING = 1.5


def readers(org: OrgDirectory, settings: Settings) -> dict[str, tuple[str, dict[str, Any], str]]:
    """Each read: (path, query, bearer token of the person who makes it)."""

    def token(role: Role) -> str:
        person = sorted((p for p in org.people.values() if p.role is role), key=lambda p: p.id)[0]
        return issue_token(person.id, settings)

    village_chief = token(Role.VILLAGE_CHIEF)
    district_chief = token(Role.DISTRICT_CHIEF)
    return {
        "inbox, village chief": ("/v1/inbox", {"limit": 20}, village_chief),
        "inbox unread, village chief": (
            "/v1/inbox",
            {"limit": 20, "unread": "true"},
            village_chief,
        ),
        "inbox, district chief": ("/v1/inbox", {"limit": 20}, district_chief),
        "alerts, command center": ("/v1/alerts", {"limit": 100}, token(Role.COMMAND_CENTER)),
    }


async def measure(
    url: str, reads: dict[str, tuple[str, dict[str, Any], str]], reps: int
) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for name, (path, params, tok) in reads.items():
            times: list[float] = []
            for i in range(reps + 2):
                t0 = time.perf_counter()
                r = await client.get(
                    url + path, params=params, headers={"Authorization": f"Bearer {tok}"}
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
        names=["notify"],
        extra_env={"HULIN_LOG_LEVEL": "WARNING"},
        log_dir=Path(args.log_dir) if args.log_dir else None,
    )
    env = system.env()
    settings = Settings(
        topic_prefix=env["HULIN_TOPIC_PREFIX"], mongo_db=env["HULIN_MONGO_DB"], service="notify"
    )
    org = load_org(settings.org_file)
    gen = Incidents(org)
    await prefill(settings, gen, args.empty)
    await system.start()
    try:
        url = system.url("notify")
        reads = readers(org, settings)
        empty = await measure(url, reads, args.reps)
        t0 = time.perf_counter()
        await prefill(settings, gen, args.incidents)
        preload_s = time.perf_counter() - t0
        full = await measure(url, reads, args.reps)
    finally:
        system.stop()
        await system.drop_database()
    rows = table(empty, full, (args.empty, args.empty + args.incidents))
    print(markdown(rows), flush=True)
    print(
        f"preload: {args.incidents:,} incidents through notify's write path in {preload_s:.0f} s",
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

"""Command line of the district simulator: `hulin simulate [options]` / `python -m sim`.

Parses flags, builds the day's plan (sim.world) and plays it (sim.runner); prints the summary and
exits 1 when a report was lost. Rangers are the org file's real rangers (tokens must name real
people): `--rangers N` larger than their number gives each ranger several patrols in the day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import sys
import time
from pathlib import Path

from shared.org import load_org
from shared.policy import load_policy
from shared.settings import Settings
from sim.api import Api, Endpoints
from sim.runner import DayRunner
from sim.world import plan_day


def parse_duration(text: str) -> float:
    """`8h`, `90m`, `45s`, `1h30m` or plain seconds → seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    total, matched = 0.0, False
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)([hms])", text):
        matched = True
        total += float(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    if not matched or re.sub(r"(\d+(?:\.\d+)?)([hms])", "", text):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 8h, 90m, 1h30m)")
    return total


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hulin simulate",
        description="Simulate a district day against a running Hulin (see `make up`).",
    )
    p.add_argument("--rangers", type=int, default=200,
                   help="patrols in the day, cycled over the org's real rangers (default 200)")
    p.add_argument("--duration", type=parse_duration, default=parse_duration("8h"),
                   help="simulated length of the day (default 8h)")
    p.add_argument("--speedup", type=float, default=60.0,
                   help="simulated seconds per wall second (default 60)")
    p.add_argument("--fires", type=int, default=3)
    p.add_argument("--pests", type=int, default=2)
    p.add_argument("--sisluan", type=int, default=6, help="四乱 reports")
    p.add_argument("--public", type=int, default=4, help="reports from the public")
    p.add_argument("--hotspot-files", type=int, default=2)
    p.add_argument("--upload-every", type=parse_duration, default=120.0,
                   help="how often an online phone uploads its points (simulated, default 2m)")
    p.add_argument("--ack-prob", type=float, default=0.5,
                   help="share of incidents a chief acknowledges (fires: half of it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--patrol-url", default="http://127.0.0.1:8001")
    p.add_argument("--incidents-url", default="http://127.0.0.1:8002")
    p.add_argument("--notify-url", default="http://127.0.0.1:8003")
    p.add_argument("--org", type=Path, default=None,
                   help="org file (must be the one the services run with; default: theirs)")
    p.add_argument("--settle", type=float, default=30.0,
                   help="seconds to wait for every accepted report to join an incident")
    p.add_argument("--max-in-flight", type=int, default=48)
    p.add_argument("--json", type=Path, default=None, help="also write the summary here")
    p.add_argument("--quiet", action="store_true")
    return p


async def run(args: argparse.Namespace) -> int:
    settings = Settings()
    org = load_org(args.org or settings.org_file)
    policy = load_policy(settings.policy_file)
    rng = random.Random(args.seed)
    plan = plan_day(
        org, rng, walkers=args.rangers, day_s=args.duration, fires=args.fires, pests=args.pests,
        sisluan=args.sisluan, public=args.public, hotspot_files=args.hotspot_files,
        upload_every_s=args.upload_every,
    )
    wall_start = time.monotonic()
    endpoints = Endpoints(args.patrol_url, args.incidents_url, args.notify_url)
    if not args.quiet:
        print(
            f"[sim] {len(plan.patrols)} patrols ({plan.points} points), {len(plan.reports)} "
            f"reports, {len(plan.hotspots)} hotspot files over {args.duration / 3600:.1f} h "
            f"simulated at ×{args.speedup:g} ≈ {args.duration / args.speedup / 60:.1f} min; "
            f"watch {args.notify_url}/console",
            flush=True,
        )
    async with Api(endpoints, settings=settings, max_in_flight=args.max_in_flight) as api:
        runner = DayRunner(api=api, org=org, policy=policy, plan=plan, speedup=args.speedup,
                           ack_prob=args.ack_prob, seed=args.seed, quiet=args.quiet)
        await runner.run()
        summary = await runner.summarize(settle_s=args.settle, wall_start=wall_start)
    for line in summary.lines():
        print(line, flush=True)
    if summary.tally.errors:
        print(f"errors: {dict(summary.tally.errors)}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    return 0 if summary.lost == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

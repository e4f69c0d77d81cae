"""`make bench`: the patrol, incidents and end-to-end benchmarks in one go, one after another (they
would steal each other's cores), each as its own Makefile target, then one combined
bench/results/latest.json and latest.md.

A benchmark that writes its own section (bench.common.write_section) is kept as written; for one
that only prints, its output's last lines are stored under its name, with the command and status.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, headline, results_path, write_section

BENCHES = (
    ("patrol", "bench-patrol"),
    ("incidents", "bench-incidents"),
    ("e2e", "bench-e2e"),
    ("history", "bench-history"),
)


def sections() -> dict[str, Any]:
    path = results_path()
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text()).get("sections", {}))
    except ValueError:
        return {}


def run_one(name: str, target: str, extra: dict[str, str]) -> dict[str, Any]:
    before = sections().get(name, {}).get("measured_at")
    env = {**os.environ, **extra}
    env.pop("MAKEFLAGS", None)
    start = time.monotonic()
    wall_start = time.time()
    print(f"[bench] make {target}", flush=True)
    proc = subprocess.Popen(["make", "-s", target], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"  {line}", end="", flush=True)
        lines.append(line.rstrip())
    rc = proc.wait()
    elapsed = time.monotonic() - start
    after = sections().get(name, {})
    if after.get("measured_at") != before and after:
        return {"name": name, "rc": rc, "elapsed_s": round(elapsed, 1), "wrote_section": True}
    section: dict[str, Any] = {
        "command": f"make {target}",
        "rc": rc,
        "elapsed_s": round(elapsed, 1),
        "output_tail": lines[-40:],
    }
    own = results_path(f"{name}.json")  # a benchmark that writes its own file
    if own.exists() and own.stat().st_mtime >= wall_start:
        try:
            data = json.loads(own.read_text())
            section["results"] = data
            section["headline"] = headlines(name, data)
        except ValueError:
            pass
    write_section(name, section)
    return {"name": name, "rc": rc, "elapsed_s": round(elapsed, 1), "wrote_section": False}


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def headlines(name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Headline rows for a benchmark's own result file (known shapes; others: none)."""
    out: list[dict[str, Any]] = []
    if name == "patrol":
        value = _get(data, "service", "points_per_s")
        ceiling = _get(data, "ceiling_aiokafka", "points_per_s")
        if value is not None:
            out.append(headline("points/s through POST /v1/patrols/{id}/points", value,
                                ceiling=ceiling, unit="points/s (ceiling: raw aiokafka)"))
    if name == "incidents":
        # The intake's reports/s beside the bare FastAPI endpoint's, measured in the same run with
        # the same clients and bodies (bench/incidents_bench.py); that one's own figures (reports/s,
        # p50, p99, CPU) stay in the section's results, not as rows of their own.
        bare = _get(data, "ceiling_bare_fastapi", "reports_per_s")
        for key, value in sorted(_flat(data).items()):
            if key.startswith("ceiling_bare_fastapi."):
                continue
            if not isinstance(value, int | float):
                continue
            if not any(w in key for w in ("per_s", "p99", "p50", "lag")):
                continue
            if key == "http_intake.reports_per_s" and bare:
                unit = "reports/s (ceiling: bare FastAPI endpoint)"
                out.append(headline(key, value, ceiling=bare, unit=unit))
            else:
                out.append(headline(key, value))
    return out


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
    else:
        out[prefix.rstrip(".")] = data
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", default="", help="comma-separated subset: patrol,incidents,e2e")
    args = p.parse_args(argv)
    wanted = {s for s in args.only.split(",") if s} or {n for n, _ in BENCHES}
    runs = [run_one(name, target, {}) for name, target in BENCHES if name in wanted]
    write_section("run_all", {"command": "make bench", "runs": runs})
    print(results_path("latest.md").read_text(), flush=True)
    return 0 if all(r["rc"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The short form of `make chaos`, for CI: a Kafka and FerretDB of its own, the three services as
subprocesses, the district simulator running, and meanwhile each service killed with SIGKILL and
restarted, Kafka restarted, FerretDB restarted. Afterwards every accepted report is in exactly one
incident, no escalation happened twice and none is overdue, nobody got a duplicate notification,
and every webhook delivery arrived, under one delivery id per event (scripts/chaos.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.infra import ROOT


def test_nothing_lost_or_doubled_through_kills_and_infra_restarts(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chaos.py"), "--short", "--json", str(out),
         "--state-dir", str(tmp_path / "chaos")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=420,
    )
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    counts = json.loads(out.read_text())
    assert counts["reports_accepted"] > 0
    assert len(counts["faults"]) == 5, counts["faults"]
    assert counts["failures"] == {}, counts["failures"]
    assert result.returncode == 0

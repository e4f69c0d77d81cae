"""`make chaos-cluster` in CI: three brokers of the same jars (replication 3, min ISR 2), the
services and the simulator with reports at 50/s, one broker killed with -9 and started again.
Afterwards nothing is lost or doubled (the same counts as the single-broker run) and every
service is ready again without having been restarted (scripts/chaos.py --cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.infra import ROOT


@pytest.mark.timeout(960)  # three brokers, 6,000 reports and the counts: longer than the default
def test_a_broker_of_three_killed_loses_and_doubles_nothing(tmp_path: Path) -> None:
    out = tmp_path / "chaos-cluster.json"
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chaos.py"), "--cluster", "--short",
         "--json", str(out), "--state-dir", str(tmp_path / "chaos")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    counts = json.loads(out.read_text())
    assert counts["brokers"] == 3
    assert counts["faults"] == ["kill -9 broker 1"], counts["faults"]
    assert counts["reports_accepted"] >= 4000  # 50/s for the run, not a trickle
    assert counts["failures"] == {}, counts["failures"]
    assert result.returncode == 0

"""`hulin org validate` names every fault of a broken org file, and each service refuses to start
on that file with the same messages (before touching Kafka or the database); a service started
for production without its secret, or dev bound off loopback, refuses in one plain line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.org import demo_org_path
from tests.support.infra import ROOT, free_port


@pytest.fixture
def broken_org(tmp_path: Path) -> Path:
    text = demo_org_path().read_text(encoding="utf-8")
    # an unknown parent and a person in an unknown unit, made from the demo file
    text = text.replace('parent: "500114002"', 'parent: "500114999"', 1)
    text = text.replace('unit: "500114003001"', 'unit: "500114777777"', 1)
    assert "500114999" in text and "500114777777" in text, "the demo file changed shape"
    path = tmp_path / "broken-org.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def fault_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "500114999" in line or "500114777777" in line]


def test_validate_names_each_fault_and_services_refuse_with_the_same_message(
    broken_org: Path,
) -> None:
    validate = subprocess.run(
        [sys.executable, "-m", "shared.cli", "org", "validate", str(broken_org)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert validate.returncode == 1
    faults = fault_lines(validate.stdout + validate.stderr)
    assert any("500114999" in f for f in faults) and any("500114777777" in f for f in faults)

    for service in ("patrol", "incidents", "notify"):
        env = {"HULIN_ORG_FILE": str(broken_org), "HULIN_PORT": str(free_port()),
               "HULIN_ENV": "dev", "PATH": "/usr/bin:/bin"}
        run = subprocess.run(
            [sys.executable, "-m", f"services.{service}"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
        )
        assert run.returncode != 0, f"{service} started on a broken org file"
        for fault in faults:
            assert fault.strip() in run.stdout + run.stderr, (service, fault)


@pytest.mark.parametrize("service", ["patrol", "incidents", "notify"])
def test_a_service_refuses_production_without_a_secret_and_dev_off_loopback_in_one_line(
    service: str,
) -> None:
    base = {"HULIN_PORT": str(free_port()), "PATH": "/usr/bin:/bin"}
    for env, named in (
        (base, "HULIN_JWT_SECRET must be set outside dev"),
        ({**base, "HULIN_ENV": "dev", "HULIN_HOST": "0.0.0.0"}, "serves on loopback only"),
    ):
        run = subprocess.run(
            [sys.executable, "-m", f"services.{service}"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
        )
        assert run.returncode == 2, (service, run.stderr)
        assert run.stderr.startswith("refusing to start: ") and named in run.stderr, run.stderr
        assert "Traceback" not in run.stderr

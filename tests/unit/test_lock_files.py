"""The lock files `make up`, `make test` and the image install from (issue 16, finding 17): every
dependency of pyproject.toml pinned with hashes, and no pin inside a known advisory's range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEV: list[str] = PROJECT["optional-dependencies"]["dev"]

# package: the first version past its advisory
ADVISORIES = {
    "pyjwt": Version("2.10.1"),  # CVE-2024-53861: the issuer compared by substring
    "orjson": Version("3.11.5"),  # unbounded recursion on deeply nested input
}


def pins(lock: str) -> dict[str, tuple[Version, int]]:
    """name → (version, number of hashes) of a pip-compile --generate-hashes file."""
    out: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text()):
        head = re.match(r"([A-Za-z0-9._-]+)==([^\s\\]+)", block)
        if head:
            name = head.group(1).lower().replace("_", "-")
            out[name] = (Version(head.group(2)), block.count("--hash=sha256:"))
    return out


@pytest.mark.parametrize(
    ("lock", "deps"),
    [
        ("requirements.lock", PROJECT["dependencies"]),
        ("requirements-dev.lock", PROJECT["dependencies"] + DEV),
    ],
)
def test_every_dependency_is_pinned_with_hashes_inside_its_range(
    lock: str, deps: list[str]
) -> None:
    pinned = pins(lock)
    for dep in deps:
        req = Requirement(dep)
        name = req.name.lower().replace("_", "-")
        assert name in pinned, f"{name} missing from {lock}"
        version, hashes = pinned[name]
        assert hashes > 0, f"{name} has no hash in {lock}"
        assert req.specifier.contains(version, prereleases=True), (name, version, req.specifier)


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_no_pin_lies_inside_a_known_advisory(lock: str) -> None:
    pinned = pins(lock)
    for name, fixed in ADVISORIES.items():
        assert pinned[name][0] >= fixed, f"{name} {pinned[name][0]} < {fixed}"
    for dep in PROJECT["dependencies"]:
        req = Requirement(dep)
        if req.name.lower() in ADVISORIES:
            floor = ADVISORIES[req.name.lower()]
            lowest = min(
                (Version(s.version) for s in req.specifier if s.operator == ">="), default=None
            )
            assert lowest is not None and lowest >= floor, f"pyproject lets {req} below {floor}"

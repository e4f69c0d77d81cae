"""Reads the policy YAML file into a frozen `Policy`, naming the field path of every bad value.

Never falls back silently: a bad file raises `PolicyFileError`; a missing key takes its default.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from shared.policy.models import Policy

DEFAULT_FILE = "default_policy.yaml"


class PolicyFileError(Exception):
    """The policy file is unusable; `faults` holds (field path, message) pairs."""

    def __init__(self, path: str, faults: list[tuple[str, str]]) -> None:
        self.path = path
        self.faults = faults
        lines = "\n".join(f"{where}: {message}" for where, message in faults)
        super().__init__(f"invalid policy file {path}:\n{lines}")


def default_policy_path() -> Path:
    return Path(__file__).with_name(DEFAULT_FILE)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file (None: the shipped defaults). Cached per file, mtime and size."""
    p = Path(path) if path is not None else default_policy_path()
    try:
        resolved = p.resolve()
        stat = resolved.stat()
    except OSError as exc:
        raise PolicyFileError(str(p), [("file", f"cannot read: {exc}")]) from exc
    return _load_cached(str(resolved), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, size: int) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(path, [("file", f"cannot read: {exc}")]) from exc
    return parse_policy(text, path)


def parse_policy(text: str, path: str = "<policy>") -> Policy:
    """Parse policy YAML text; raises PolicyFileError naming each bad field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyFileError(path, [(where, f"YAML syntax error: {problem}")]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyFileError(path, [("file", "the policy file must be a mapping of sections")])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        faults = [
            (".".join(str(p) for p in err["loc"]) or "file", err["msg"]) for err in exc.errors()
        ]
        raise PolicyFileError(path, faults) from exc

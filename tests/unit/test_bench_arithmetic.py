"""The arithmetic of `make abuse` and `make bench-history` (pure: no service, no store)."""

from __future__ import annotations

from collections import Counter

from bench.abuse_bench import failures_of
from bench.history_bench import table


def test_simulator_failures_are_5xx_429_and_no_answer() -> None:
    calls = Counter(
        {"POST 202": 40, "GET 200": 9, "POST 429": 2, "GET 503": 1, "POST 0": 3, "POST 404": 5}
    )
    assert failures_of(calls) == 6


def test_history_rows_hold_reads_to_100_ms_and_growth_and_loops_to_growth_only() -> None:
    empty = {"read": {"p50": 10.0, "p99": 40.0}, "loop: scan": {"p50": 100.0, "p99": 200.0}}
    full = {"read": {"p50": 12.0, "p99": 59.0}, "loop: scan": {"p50": 150.0, "p99": 290.0}}
    rows = {r["read"]: r for r in table(empty, full, "at a year")}
    assert rows["read"]["growth"] == 1.48 and rows["read"]["within target"]
    assert rows["loop: scan"]["within target"]  # 290 ms, but a loop is held to its growth
    slow = {"read": {"p50": 90.0, "p99": 101.0}, "loop: scan": {"p50": 150.0, "p99": 301.0}}
    rows = {r["read"]: r for r in table(empty, slow, "at a year")}
    assert not rows["read"]["within target"] and not rows["loop: scan"]["within target"]

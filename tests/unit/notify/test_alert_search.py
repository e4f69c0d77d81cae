"""Finding a district's highest alert by exact `_id` reads while another replica goes on storing:
only a number read stored is ever returned (it vouches for every number below it), whatever the
order of the reads made at once. A fake store, no server."""

from __future__ import annotations

from typing import Any

import pytest

from services.notify.repository.alerts import ALERTS, MongoAlertSequence, alert_id, between

DISTRICT = "500114"


class GrowingAlerts:
    """A district's alerts 1…`stored`; another writer stores `per_read` more after each read."""

    def __init__(self, stored: int, per_read: int) -> None:
        self.stored = stored
        self.per_read = per_read
        self.reads = 0
        self.read_stored: set[int] = set()

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        seq = int(str(query["_id"]).rsplit(":", 1)[1])
        assert query["_id"] == alert_id(DISTRICT, seq)
        self.reads += 1
        doc = {"_id": query["_id"], "seq": seq} if seq <= self.stored else None
        if doc is not None:
            self.read_stored.add(seq)
        self.stored += self.per_read
        return doc


@pytest.mark.parametrize(
    ("low", "high", "k", "expected"),
    [
        (4, 5, 8, []),
        (4, 9, 8, [5, 6, 7, 8]),
        (0, 9, 8, [1, 2, 3, 4, 5, 6, 7, 8]),
        (0, 10, 8, [1, 2, 3, 4, 5, 6, 7, 8]),
        (0, 18, 8, [2, 4, 6, 8, 10, 12, 14, 16]),
        (100, 1000, 8, [200, 300, 400, 500, 600, 700, 800, 900]),
    ],
)
def test_between_spreads_up_to_k_numbers_strictly_inside(
    low: int, high: int, k: int, expected: list[int]
) -> None:
    assert between(low, high, k) == expected


@pytest.mark.parametrize("start", [1, 7, 130, 5000, 100_000])
async def test_highest_is_found_exactly_when_nobody_writes(start: int) -> None:
    alerts = GrowingAlerts(stored=start, per_read=0)
    repo = MongoAlertSequence({ALERTS: alerts})  # type: ignore[arg-type]

    assert await repo._highest_from(DISTRICT, {1: {"seq": 1}}) == start
    assert alerts.reads < 80


@pytest.mark.parametrize("per_read", [1, 3, 40])
@pytest.mark.parametrize("start", [1, 20, 700])
async def test_highest_found_while_the_other_replica_writes_was_read_stored(
    start: int, per_read: int
) -> None:
    alerts = GrowingAlerts(stored=start, per_read=per_read)
    repo = MongoAlertSequence({ALERTS: alerts})  # type: ignore[arg-type]

    highest = await repo._highest_from(DISTRICT, {1: {"seq": 1}})

    # a number read stored (never one guessed from a number read missing, which may be stored by
    # the time the next is read), at least what was stored when the search began
    assert highest in alerts.read_stored
    assert highest >= start

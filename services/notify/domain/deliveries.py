"""A webhook delivery as it stands, from its insert-only records (pure): the delivery, its tries
(one record each) and its outcome once delivered or dead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


def delivery_state(
    delivery: Mapping[str, Any], attempts: Sequence[Mapping[str, Any]],
    outcome: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Status, tries in order, last error and status code, and when it is tried next."""
    tries = sorted(attempts, key=lambda t: int(t["attempt"]))
    last = tries[-1] if tries else None
    status = str(outcome["status"]) if outcome is not None else PENDING
    next_try = None
    if status == PENDING:
        next_try = (last or {}).get("next_try_at") or delivery.get("created_at")
    return {
        **delivery,
        "status": status,
        "attempts": len(tries),
        "last_error": last.get("error") if last else None,
        "last_status_code": last.get("status_code") if last else None,
        "next_try_at": next_try,
        "delivered_at": outcome.get("at") if outcome is not None and status == DELIVERED else None,
        "dead_at": outcome.get("at") if outcome is not None and status == DEAD else None,
        "tries": tries,
    }

"""Intake checks of a report from the app, beyond its shape: sizes and time from the policy file,
the facts in `details`. Pure: `now` is passed in; raises InvalidInput naming the field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from services.incidents.domain.grading import BOOLEAN_DETAILS, NUMERIC_DETAILS
from shared.errors import InvalidInput
from shared.policy import Policy

MAX_DETAILS_BYTES = 8192
MAX_FREE_FORM_DEPTH = 8  # a dict of lists of dicts is 3: forms never need more
MAX_PHOTO_REF_CHARS = 1024


def check_report(
    *,
    observed_at: datetime,
    description: str | None,
    photos: list[str],
    details: dict[str, Any],
    now: datetime,
    policy: Policy,
) -> None:
    limits = policy.reports
    if description is not None and len(description) > limits.max_description_chars:
        raise InvalidInput(
            f"description has {len(description)} characters; at most "
            f"{limits.max_description_chars}",
            field="description",
        )
    if len(photos) > limits.max_photos:
        raise InvalidInput(f"{len(photos)} photos; at most {limits.max_photos}", field="photos")
    for i, ref in enumerate(photos):
        if not ref.strip() or len(ref) > MAX_PHOTO_REF_CHARS:
            raise InvalidInput(
                f"a photo reference is 1–{MAX_PHOTO_REF_CHARS} characters", field=f"photos[{i}]"
            )
    tolerance = timedelta(seconds=policy.patrol.future_tolerance_s)
    if observed_at > now + tolerance:
        raise InvalidInput(
            f"observed_at {observed_at.isoformat()} is in the future", field="observed_at"
        )
    check_free_form(details, "details")
    for key, kind in NUMERIC_DETAILS.items():
        if key not in details:
            continue
        value = details[key]
        ok = not isinstance(value, bool) and isinstance(value, int | float) and value >= 0
        if ok and kind is int and isinstance(value, float) and not value.is_integer():
            ok = False
        if not ok:
            what = "a whole number ≥ 0" if kind is int else "a number ≥ 0"
            raise InvalidInput(f"{key} must be {what}", field=f"details.{key}")
    for key in BOOLEAN_DETAILS:
        if key in details and not isinstance(details[key], bool):
            raise InvalidInput(f"{key} must be true or false", field=f"details.{key}")


def check_free_form(value: Any, field: str, *, max_bytes: int = MAX_DETAILS_BYTES) -> None:
    """A free-form JSON field (a report's `details`, a step's `evidence`) the store and the
    events can carry: nested at most MAX_FREE_FORM_DEPTH deep, integers within int64, at most
    `max_bytes` as JSON. Walked without recursion, so no nesting can overflow a stack: a change
    nested past the store's limit once stalled every incident's events behind it."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_FREE_FORM_DEPTH:
                raise InvalidInput(
                    f"nested deeper than {MAX_FREE_FORM_DEPTH} levels", field=path
                )
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, inner in pairs:
                sub = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
                stack.append((inner, sub, depth + 1))
    too_big = _int_out_of_range(value, field)
    if too_big is not None:
        raise InvalidInput("integers must fit in 64 bits (signed)", field=too_big)
    if len(orjson.dumps(value)) > max_bytes:
        raise InvalidInput(f"{field} larger than {max_bytes} bytes", field=field)


def _int_out_of_range(value: Any, path: str) -> str | None:
    """The path of the first integer the store cannot hold (BSON int64), if any."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return path if not -(2**63) <= value < 2**63 else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _int_out_of_range(
            item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
        )
        if found is not None:
            return found
    return None

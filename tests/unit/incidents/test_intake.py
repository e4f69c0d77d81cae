"""Intake checks of a report (pure)."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput


def test_details_integers_beyond_64_bits_are_refused_naming_the_field() -> None:
    """Found by schemathesis: an integer the store cannot hold gave a 500; now a 4xx."""
    from datetime import UTC, datetime

    import pytest

    from services.incidents.domain.intake import check_report
    from shared.errors import InvalidInput
    from shared.policy import Policy

    now = datetime.now(UTC)
    kw = {"observed_at": now, "description": None, "photos": [], "now": now, "policy": Policy()}
    check_report(details={"n": 2**63 - 1, "ok": [True, -(2**63)]}, **kw)  # type: ignore[arg-type]
    for details, field in (
        ({"x": {"y": 7124219419625037464862720}}, "details.x.y"),
        ({"l": [1, 2**63]}, "details.l[1]"),
    ):
        with pytest.raises(InvalidInput) as err:
            check_report(details=details, **kw)  # type: ignore[arg-type]
        assert err.value.field == field


def test_free_form_nested_past_the_limit_is_refused_naming_the_path() -> None:
    """Issue 16, finding 1: `evidence` had no depth limit; `details` nested ~254 deep gave a
    500 (orjson's recursion limit) and ~100–253 deep a 202 and then a lost report."""
    from services.incidents.domain.intake import MAX_FREE_FORM_DEPTH, check_free_form

    deep: dict[str, object] = {}
    inner = deep
    for _ in range(300):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    with pytest.raises(InvalidInput) as refused:
        check_free_form(deep, "evidence")
    assert refused.value.field == "evidence" + ".a" * MAX_FREE_FORM_DEPTH
    shallow = {"a": [{"b": {"c": 1}}]}
    check_free_form(shallow, "evidence")


def test_free_form_past_its_size_is_refused() -> None:
    from services.incidents.domain.intake import check_free_form

    with pytest.raises(InvalidInput) as refused:
        check_free_form({"photo": "x" * 9000}, "evidence")
    assert refused.value.field == "evidence"

"""Intake checks of a report (pure)."""

from __future__ import annotations


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

"""Webhook retry schedule (≥ 1 hour, exponential, jittered) and signing/validation rules."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.domain import webhooks
from services.notify.domain.backoff import RetrySchedule, delay_after, next_try_at
from services.notify.settings import NotifySettings
from shared.errors import InvalidInput

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


def test_default_schedule_keeps_trying_for_at_least_an_hour_then_gives_up() -> None:
    schedule = NotifySettings().retry_schedule()
    now, failures = T0, 0
    for draw in [0.0, 0.99] * 200:
        failures += 1
        nxt = next_try_at(created_at=T0, failures=failures, now=now, schedule=schedule, draw=draw)
        if nxt is None:
            break
        assert nxt > now
        now = nxt
    assert nxt is None
    assert now - T0 >= timedelta(hours=1)
    assert failures < 40  # backs off: not hundreds of tries


def test_delays_grow_exponentially_up_to_the_cap_and_jitter_only_shortens() -> None:
    s = RetrySchedule(base_s=10, factor=2, max_s=600, retry_for_s=3600, jitter=0.2)
    assert [delay_after(n, s, 0.0) for n in range(1, 8)] == [10, 20, 40, 80, 160, 320, 600]
    assert delay_after(1000, s, 0.0) == 600
    for draw in (0.0, 0.5, 0.999):
        assert 8 <= delay_after(1, s, draw) <= 10


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError):
        RetrySchedule(base_s=0, factor=2, max_s=10, retry_for_s=10)
    with pytest.raises(ValueError):
        RetrySchedule(base_s=1, factor=2, max_s=10, retry_for_s=10, jitter=1.0)
    with pytest.raises(ValueError):
        delay_after(0, RetrySchedule(base_s=1, factor=2, max_s=10, retry_for_s=10), 0.0)


def test_signature_is_hmac_sha256_hex_of_the_raw_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert webhooks.sign("k3y", body) == f"sha256={expected}"
    assert webhooks.verify("k3y", body, f"sha256={expected}")
    assert not webhooks.verify("k3y", body + b" ", f"sha256={expected}")


@pytest.mark.parametrize(
    "url", ["ftp://x/y", "file:///etc/passwd", "javascript:alert(1)", "http://", "hq.example/hook"]
)
def test_only_http_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        webhooks.check_url(url)
    assert err.value.field == "url"


def test_unknown_event_types_are_refused_naming_the_index() -> None:
    assert webhooks.check_types(None) is None
    assert webhooks.check_types(["incident.opened", "incident.opened"]) == ("incident.opened",)
    with pytest.raises(InvalidInput) as err:
        webhooks.check_types(["incident.opened", "incident.exploded"])
    assert err.value.field == "types[1]" and "incident.exploded" in err.value.message
    with pytest.raises(InvalidInput):
        webhooks.check_types([])


def test_subscription_filters_by_type_level_incident_type_and_scope() -> None:
    sub = webhooks.Subscription(
        id="s",
        url="http://x",
        types=("incident.escalated",),
        min_level=2,
        unit="500114",
        incident_types=("fire",),
    )
    ok = dict(event_type="incident.escalated", level=2, incident_type="fire", in_scope=True)
    assert webhooks.wants(sub, **ok)  # type: ignore[arg-type]
    for change in (
        {"event_type": "incident.opened"},
        {"level": 1},
        {"incident_type": "pest"},
        {"in_scope": False},
    ):
        assert not webhooks.wants(sub, **{**ok, **change})  # type: ignore[arg-type]

"""Per-person budgets (issue 16, finding 8): the token bucket, and the policy values by role."""

from __future__ import annotations

import pytest

from shared.clock import FakeClock
from shared.policy import load_policy
from shared.ratelimit import RateLimiter


def test_a_budget_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert all(limiter.take("public|p1", 6) is None for _ in range(6))
    wait = limiter.take("public|p1", 6)
    assert wait == pytest.approx(10.0)  # one report per 10 s at 6 a minute


def test_the_budget_refills_with_the_clock() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for _ in range(6):
        limiter.take("k", 6)
    clock.advance(9.9)
    assert limiter.take("k", 6) is not None
    clock.advance(0.2)
    assert limiter.take("k", 6) is None


def test_each_person_has_a_budget_of_their_own() -> None:
    limiter = RateLimiter(FakeClock())
    for _ in range(6):
        limiter.take("a", 6)
    assert limiter.take("a", 6) is not None
    assert limiter.take("b", 6) is None


def test_forgotten_keys_start_again_with_a_full_budget() -> None:
    limiter = RateLimiter(FakeClock(), max_keys=2)
    limiter.take("a", 1)
    limiter.take("b", 1)
    limiter.take("c", 1)  # "a" is forgotten
    assert limiter.take("a", 1) is None


def test_the_default_policy_limits_the_public_most() -> None:
    limits = load_policy(None).limits
    assert limits.reports_for("public") < limits.reports_for("ranger")
    assert limits.reports_for("ranger") <= limits.reports_for("command_center")
    assert limits.streams_per_person >= 1


async def test_a_refusal_is_429_with_retry_after_in_whole_seconds() -> None:
    import httpx
    from fastapi import FastAPI

    from shared.errors import RateLimited
    from shared.http import install_common
    from shared.settings import Settings

    app = FastAPI()
    app.state.settings = Settings()
    install_common(app, "test")

    @app.get("/v1/busy")
    async def busy() -> None:
        raise RateLimited("slow down", retry_after_s=2.2, field="id")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/v1/busy")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "3"
    assert answer.json()["code"] == "rate_limited"


def test_a_peek_answers_what_a_take_would_and_spends_nothing() -> None:
    """Issue 16: the early gate looks at the budget; only the route's `take` counts a report."""
    limiter = RateLimiter(FakeClock())
    assert limiter.peek("k", 6) is None
    for _ in range(5):
        limiter.take("k", 6)
    assert all(limiter.peek("k", 6) is None for _ in range(100))
    assert limiter.take("k", 6) is None  # the sixth is still there
    assert limiter.peek("k", 6) == pytest.approx(10.0)
    assert limiter.take("k", 6) == pytest.approx(10.0)

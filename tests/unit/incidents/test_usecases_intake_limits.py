"""One person's reports are budgeted by role (issue 16, finding 8): a public token could once
submit without limit, and each unverified fire with casualties fanned out to HQ and webhooks."""

from __future__ import annotations

import pytest

from shared.errors import RateLimited
from shared.org import load_org
from tests.unit.incidents.conftest import World

ORG = load_org(None)


def someone(role: str):  # type: ignore[no-untyped-def]
    return next(p for p in ORG.people.values() if p.role.value == role)


def test_a_public_reporter_past_the_budget_is_told_when_to_retry(world: World) -> None:
    public = someone("public")
    budget = world.policy.limits.reports_for("public")
    for _ in range(budget):
        world.uc.intake.admit(public)
    with pytest.raises(RateLimited) as refused:
        world.uc.intake.admit(public)
    assert 0 < refused.value.retry_after_s <= 60
    world.clock.advance(refused.value.retry_after_s + 0.01)
    world.uc.intake.admit(public)


def test_a_ranger_keeps_reporting_while_a_public_token_is_refused(world: World) -> None:
    public, ranger = someone("public"), someone("ranger")
    for _ in range(world.policy.limits.reports_for("public")):
        world.uc.intake.admit(public)
    with pytest.raises(RateLimited):
        world.uc.intake.admit(public)
    for _ in range(world.policy.limits.reports_for("public") * 2):
        world.uc.intake.admit(ranger)

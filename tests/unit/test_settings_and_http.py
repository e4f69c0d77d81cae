"""Shared plumbing without I/O: settings guard rails, error field paths, correlation ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.clock import FakeClock, as_utc
from shared.http import field_path
from shared.settings import Settings


def test_prod_refuses_the_public_dev_secret() -> None:
    with pytest.raises(ValidationError, match="HULIN_JWT_SECRET must be set"):
        Settings(env="prod")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env="prod", jwt_secret="short")
    assert Settings(env="prod", jwt_secret="x" * 40).env == "prod"
    assert Settings(env="dev").env == "dev"


def test_rs256_needs_a_public_key() -> None:
    with pytest.raises(ValidationError, match="PUBLIC_KEY_FILE"):
        Settings(jwt_algorithm="RS256")


def test_topic_prefix_isolates_topics_and_groups() -> None:
    s = Settings(topic_prefix="t1.")
    assert s.topic("hulin.reports") == "t1.hulin.reports"
    assert s.group("incidents") == "t1.hulin.incidents"


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("body", "points", 3, "lat"), "points[3].lat"),
        (("body", "type"), "type"),
        (("query", "from"), "query.from"),
        (("body",), "body"),
    ],
)
def test_validation_error_field_paths_name_the_field(
    loc: tuple[object, ...], expected: str
) -> None:
    assert field_path(loc) == expected


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    start = clock.now()
    assert clock.now() == start
    assert (clock.advance(90) - start).total_seconds() == 90
    assert as_utc(start.replace(tzinfo=None)) == start


def test_the_loopback_cors_default_does_not_survive_into_prod() -> None:
    assert Settings().cors_origin_regex.startswith("^https?://(localhost")
    prod = Settings(env="prod", jwt_secret="s" * 40)
    assert prod.cors_origin_regex == ""
    chosen = Settings(env="prod", jwt_secret="s" * 40, cors_origin_regex=r"^https://hulin\.cn$")
    assert chosen.cors_origin_regex == r"^https://hulin\.cn$"


def test_without_hulin_env_a_service_is_prod_and_refuses_the_public_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HULIN_ENV", raising=False)
    monkeypatch.delenv("HULIN_JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="HULIN_JWT_SECRET must be set"):
        Settings()
    configured = Settings(jwt_secret="a-real-secret-of-the-district-0123456789")
    assert configured.env == "prod" and configured.cors_origin_regex == ""


def test_development_mode_serves_on_loopback_only() -> None:
    dev = Settings(env="dev")
    for host in ("127.0.0.1", "::1", "[::1]", "localhost"):
        dev.check_bind(host)
    for host in ("0.0.0.0", "::", "10.0.0.5", "hulin.example.cn"):
        with pytest.raises(ValueError, match="loopback only"):
            dev.check_bind(host)
    Settings(env="test").check_bind("0.0.0.0")
    Settings(env="prod", jwt_secret="a-real-secret-of-the-district-0123456789").check_bind("::")

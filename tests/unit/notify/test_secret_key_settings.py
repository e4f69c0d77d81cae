"""Notify's webhook secret key in settings: required in prod, a malformed key or the public dev
key refused naming HULIN_WEBHOOK_SECRET_KEY; dev and test fall back to the dev key."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from pydantic import ValidationError

from services.notify.repository.secret_box import DEV_KEY, key_id
from services.notify.settings import NotifySettings

PROD: dict[str, Any] = {"env": "prod", "jwt_secret": "a-production-jwt-secret-0123456789abcdef"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HULIN_WEBHOOK_SECRET_KEY", raising=False)  # the suite sets one
    monkeypatch.delenv("HULIN_WEBHOOK_SECRET_OLD_KEYS", raising=False)


def test_prod_without_a_key_refuses_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="HULIN_WEBHOOK_SECRET_KEY must be set outside dev"):
        NotifySettings(**PROD)


@pytest.mark.parametrize("key", ["not-base64!", b64(b"x" * 16), b64(b"x" * 33)])
def test_a_malformed_key_refuses_naming_the_setting(key: str) -> None:
    with pytest.raises(ValidationError, match="HULIN_WEBHOOK_SECRET_KEY must be"):
        NotifySettings(**PROD, webhook_secret_key=key)
    with pytest.raises(ValidationError, match="HULIN_WEBHOOK_SECRET_KEY must be"):
        NotifySettings(env="dev", webhook_secret_key=key)


def test_prod_refuses_the_public_dev_key() -> None:
    with pytest.raises(ValidationError, match="must not be the dev key"):
        NotifySettings(**PROD, webhook_secret_key=b64(DEV_KEY))


def test_prod_with_a_key_and_an_old_one_seals_under_the_key() -> None:
    key, old = os.urandom(32), os.urandom(32)
    settings = NotifySettings(**PROD, webhook_secret_key=b64(key), webhook_secret_old_keys=b64(old))
    box = settings.webhook_secret_box()
    assert box.current_kid == key_id(key)
    sealed = box.seal("s", subscription_id="wh-1")
    assert sealed["kid"] == key_id(key)
    assert b64(key) not in repr(settings)


@pytest.mark.parametrize("env", ["dev", "test"])
def test_dev_and_test_fall_back_to_the_public_dev_key(env: str) -> None:
    assert NotifySettings(env=env).webhook_secret_box().current_kid == key_id(DEV_KEY)

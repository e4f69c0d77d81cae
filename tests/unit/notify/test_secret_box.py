"""The webhook secret box (pure): a sealed secret opens only under a configured key and only for
the subscription it was sealed for; keys from settings are refused with the setting named."""

from __future__ import annotations

import base64
import os

import pytest

from services.notify.repository.secret_box import (
    DEV_KEY,
    SecretBox,
    SecretUnreadable,
    key_id,
    parse_key,
)

SECRET = "hq-shared-secret-0123456789"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def test_a_sealed_secret_opens_for_its_subscription_and_holds_no_plaintext() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal(SECRET, subscription_id="wh-1")
    assert set(sealed) == {"v", "kid", "nonce", "ct"} and sealed["v"] == 1
    assert sealed["kid"] == box.current_kid
    assert len(base64.b64decode(sealed["nonce"])) == 12
    assert SECRET not in repr(sealed) and b64(SECRET.encode()) not in repr(sealed)
    assert box.open(sealed, subscription_id="wh-1") == SECRET


def test_two_seals_of_one_secret_differ_by_their_random_nonce() -> None:
    box = SecretBox(os.urandom(32))
    a, b = (box.seal(SECRET, subscription_id="wh-1") for _ in range(2))
    assert a["nonce"] != b["nonce"] and a["ct"] != b["ct"]


def test_a_secret_moved_to_another_subscription_does_not_open() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal(SECRET, subscription_id="wh-1")
    with pytest.raises(SecretUnreadable, match="wh-2.*does not authenticate.*another subscription"):
        box.open(sealed, subscription_id="wh-2")


def test_an_altered_ciphertext_does_not_open() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal(SECRET, subscription_id="wh-1")
    ct = bytearray(base64.b64decode(sealed["ct"]))
    ct[0] ^= 1
    with pytest.raises(SecretUnreadable, match="does not authenticate"):
        box.open({**sealed, "ct": b64(bytes(ct))}, subscription_id="wh-1")


def test_a_secret_sealed_under_a_key_not_configured_names_that_key_and_the_settings() -> None:
    sealed = SecretBox(os.urandom(32)).seal(SECRET, subscription_id="wh-1")
    other = SecretBox(os.urandom(32))
    with pytest.raises(SecretUnreadable) as e:
        other.open(sealed, subscription_id="wh-1")
    text = str(e.value)
    assert sealed["kid"] in text and "HULIN_WEBHOOK_SECRET_KEY" in text
    assert "HULIN_WEBHOOK_SECRET_OLD_KEYS" in text and SECRET not in text


def test_a_wrong_key_under_a_forged_key_id_does_not_open() -> None:
    sealed = SecretBox(os.urandom(32)).seal(SECRET, subscription_id="wh-1")
    other = SecretBox(os.urandom(32))
    with pytest.raises(SecretUnreadable, match="does not authenticate"):
        other.open({**sealed, "kid": other.current_kid}, subscription_id="wh-1")


def test_after_rotation_the_new_key_seals_and_the_old_one_still_opens() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = SecretBox(old).seal(SECRET, subscription_id="wh-1")
    rotated = SecretBox(new, [old])
    assert rotated.open(before, subscription_id="wh-1") == SECRET
    assert not rotated.is_current(before)
    after = rotated.seal(SECRET, subscription_id="wh-1")
    assert after["kid"] == key_id(new) and rotated.is_current(after)
    with pytest.raises(SecretUnreadable):
        SecretBox(new).open(before, subscription_id="wh-1")  # old key retired


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"v": 1, "kid": "x", "nonce": "%%", "ct": "AA=="},
        {"v": 2, "kid": "x", "nonce": "", "ct": ""},
    ],
)
def test_a_stored_value_that_is_not_a_sealed_secret_is_refused_clearly(
    stored: dict[str, object],
) -> None:
    with pytest.raises(SecretUnreadable, match="wh-1"):
        SecretBox(DEV_KEY).open(stored, subscription_id="wh-1")


def test_a_key_is_the_base64_of_exactly_32_bytes() -> None:
    assert parse_key(b64(b"k" * 32)) == b"k" * 32
    with pytest.raises(ValueError, match="HULIN_WEBHOOK_SECRET_KEY must be the base64 of 32"):
        parse_key(b64(b"k" * 31))
    with pytest.raises(ValueError, match="HULIN_WEBHOOK_SECRET_KEY must be base64"):
        parse_key("not base64!")
    with pytest.raises(ValueError, match="HULIN_WEBHOOK_SECRET_OLD_KEYS"):
        SecretBox.from_settings(b64(b"k" * 32), f"{b64(b'o' * 32)},short")

"""Webhook signing secrets sealed for storage: AES-256-GCM under a key from settings, bound to the
subscription id. Pure (no I/O); an error names the subscription and the key id, never a key or a
secret."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, random per seal: far below 2**32 seals per key for subscriptions
KEY_SETTING = "HULIN_WEBHOOK_SECRET_KEY"
OLD_KEYS_SETTING = "HULIN_WEBHOOK_SECRET_OLD_KEYS"

# dev and test only, and public (it is in this file): the settings refuse it in prod.
DEV_KEY = hashlib.sha256(b"hulin webhook secret key for dev and test - public").digest()


class SecretUnreadable(Exception):
    """A stored secret that cannot be opened: unknown layout, a key not configured, or a
    ciphertext that does not authenticate (altered, or moved from another subscription)."""


def parse_key(text: str, *, setting: str = KEY_SETTING) -> bytes:
    """The key of a setting (standard base64 of 32 bytes); a ValueError naming the setting."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"{setting} must be base64 (e.g. `openssl rand -base64 32`)"
        ) from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"{setting} must be the base64 of {KEY_BYTES} bytes, not {len(key)} "
            "(e.g. `openssl rand -base64 32`)"
        )
    return key


def key_id(key: bytes) -> str:
    """A short public name of a key, stored beside each ciphertext (which key opens it)."""
    return hashlib.sha256(b"hulin webhook secret key id\x00" + key).hexdigest()[:12]


def _associated_data(subscription_id: str) -> bytes:
    # Binds the ciphertext to its subscription (and the layout version): moved to another
    # document, it no longer authenticates.
    return f"hulin.webhook.secret:v{VERSION}:{subscription_id}".encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class SecretBox:
    """Seals under the current key; opens under the current key or any old one (rotation)."""

    def __init__(self, current: bytes, old: Sequence[bytes] = ()) -> None:
        for key in (current, *old):
            if len(key) != KEY_BYTES:
                raise ValueError(f"a webhook secret key is {KEY_BYTES} bytes, not {len(key)}")
        self.current_kid = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*old, current)}

    @classmethod
    def from_settings(cls, current: str, old: str) -> SecretBox:
        """From the two settings' texts: the current key, and old keys comma-separated."""
        return cls(
            parse_key(current, setting=KEY_SETTING),
            [parse_key(k, setting=OLD_KEYS_SETTING) for k in old.split(",") if k.strip()],
        )

    def seal(self, secret: str, *, subscription_id: str) -> dict[str, Any]:
        nonce = os.urandom(NONCE_BYTES)
        ct = self._keys[self.current_kid].encrypt(
            nonce, secret.encode("utf-8"), _associated_data(subscription_id)
        )
        return {"v": VERSION, "kid": self.current_kid, "nonce": _b64(nonce), "ct": _b64(ct)}

    def open(self, sealed: Mapping[str, Any], *, subscription_id: str) -> str:
        where = f"webhook subscription {subscription_id}"
        try:
            version, kid = sealed["v"], sealed["kid"]
            nonce = base64.b64decode(sealed["nonce"], validate=True)
            ct = base64.b64decode(sealed["ct"], validate=True)
        except (KeyError, TypeError, binascii.Error, ValueError):
            raise SecretUnreadable(f"{where}: the stored secret is not a sealed secret") from None
        if version != VERSION:
            raise SecretUnreadable(f"{where}: sealed secret of unknown version {version!r}")
        aead = self._keys.get(kid)
        if aead is None:
            raise SecretUnreadable(
                f"{where}: secret sealed under key {kid}, which is neither {KEY_SETTING} "
                f"nor one of {OLD_KEYS_SETTING} (configured: {', '.join(sorted(self._keys))})"
            )
        try:
            plain = aead.decrypt(nonce, ct, _associated_data(subscription_id))
        except (InvalidTag, ValueError):
            raise SecretUnreadable(
                f"{where}: sealed secret does not authenticate under key {kid} "
                "(altered, or moved from another subscription)"
            ) from None
        return plain.decode("utf-8")

    def is_current(self, sealed: object) -> bool:
        """Sealed in this layout under the current key (nothing to re-seal)."""
        return (
            isinstance(sealed, Mapping)
            and sealed.get("v") == VERSION
            and sealed.get("kid") == self.current_kid
        )


DEV_BOX = SecretBox(DEV_KEY)

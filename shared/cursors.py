"""Cursors of the lists read as `_id` ranges (issue 15): the last key of a page, made opaque.

A cursor is handed out in `next` and comes back in `?cursor=`; the next page is the range below
the key it stands for. Decoding checks the key lies in the list asked for, so a cursor of one
person's inbox or one unit's list never reads another's.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime


class BadCursor(ValueError):
    """The cursor was not one this list gave out."""


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """The key `cursor` stands for; BadCursor unless it is a key under `prefix`."""
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc
    if not key.startswith(prefix) or len(key) == len(prefix):
        raise BadCursor(cursor)
    return key


def sort_time(t: datetime) -> str:
    """A time as a fixed-width key part that sorts as the time does (UTC), to the millisecond as
    BSON keeps it: the time read back from the store gives the same key."""
    return f"{t:%Y%m%dT%H%M%S}.{t.microsecond // 1000:03d}"

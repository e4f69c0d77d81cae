"""The only module of the notify service that talks to MongoDB."""

from __future__ import annotations

from pymongo import IndexModel

INDEXES: dict[str, list[IndexModel]] = {}

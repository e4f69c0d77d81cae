"""HTTP routes of the patrol service: parse, authorize, call a handler, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["patrol"])

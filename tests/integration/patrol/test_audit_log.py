"""The audit log on a real patrol service: reading a track writes exactly one record naming the
reader, a denied read is recorded too, and a request that is not audited writes none."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.patrol.conftest import RANGER, hours_ago, running, start_patrol


class Kept(logging.Handler):
    """The audit records, straight from their logger (the service sets up the root's)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def clear(self) -> None:
        self.records.clear()


@pytest.fixture
def audit_records() -> Iterator[Kept]:
    kept, audit = Kept(), logging.getLogger("hulin.audit")
    audit.addHandler(kept)
    audit.setLevel(logging.INFO)
    try:
        yield kept
    finally:
        audit.removeHandler(kept)


def _records(kept: Kept) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in kept.records]


async def test_a_track_read_is_audited_once_with_the_reader_and_a_denied_one_too(
    patrol_settings: Callable[..., Any],
    token: Callable[[str], str],
    audit_records: Kept,
) -> None:
    reader = "vc-500114001001"
    async with running(patrol_settings()) as srv:
        c, pid = srv.client, str(uuid.uuid4())
        assert (await start_patrol(c, token(RANGER), pid, hours_ago(1))).status_code == 201
        audit_records.clear()
        r = await c.get(f"/v1/patrols/{pid}/track", headers={"Authorization": token(reader)})
        assert r.status_code == 200
        (record,) = _records(audit_records)
        assert record["person"] == reader and record["role"] == "village_chief"
        assert record["route"] == "/v1/patrols/{patrol_id}/track"
        assert record["path"] == f"/v1/patrols/{pid}/track" and record["status"] == 200
        assert "Bearer" not in json.dumps(record)
        audit_records.clear()
        r = await c.get(f"/v1/patrols/{pid}/track")
        assert r.status_code == 401
        (denied,) = _records(audit_records)
        assert denied["person"] is None and denied["status"] == 401
        audit_records.clear()
        await c.get("/v1/patrols", headers={"Authorization": token(reader)})
        assert _records(audit_records) == []

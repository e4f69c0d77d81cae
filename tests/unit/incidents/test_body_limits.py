"""The incidents app caps bodies before reading them (issue 16, finding 3): a FIRMS upload up to
`max_hotspot_bytes`, every other body up to `max_body_bytes`; past that 413, unauthenticated or
not, and the body is not parsed."""

from __future__ import annotations

import httpx
import pytest

from services.incidents.app import create_app
from services.incidents.settings import IncidentsSettings


def client(**overrides: object) -> httpx.AsyncClient:
    app = create_app(IncidentsSettings(**overrides))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.parametrize(
    ("path", "size", "refused"),
    [
        ("/v1/reports", 2_000_000, True),
        ("/v1/reports", 1000, False),
        ("/v1/hotspots", 2_000_000, False),  # within the hotspot limit: read, then judged
        ("/v1/hotspots", 5_000_001, True),
    ],
)
async def test_bodies_past_their_path_limit_are_refused_unread(
    path: str, size: int, refused: bool
) -> None:
    async with client(max_body_bytes=1_048_576, max_hotspot_bytes=5_000_000) as http:
        answer = await http.post(
            path, content=b"x" * size, headers={"content-type": "application/json"}
        )
    assert (answer.status_code == 413) is refused, answer.status_code
    if refused:
        assert answer.json()["errors"][0]["field"] == "body"

"""Which requests the audit log records (pure route matching), and that a token in the query
never reaches a record."""

from __future__ import annotations

from shared.audit import AUDITED, audited_route, compile_routes, without_secrets

PATROL = compile_routes(AUDITED["patrol"])
INCIDENTS = compile_routes(AUDITED["incidents"])


def test_reads_of_positions_tracks_and_reports_and_hotspot_uploads_are_audited() -> None:
    assert audited_route(PATROL, "GET", "/v1/positions") == "/v1/positions"
    assert audited_route(PATROL, "GET", "/v1/patrols/p-1/track") == "/v1/patrols/{patrol_id}/track"
    assert audited_route(PATROL, "GET", "/v1/patrols/p-1") == "/v1/patrols/{patrol_id}"
    assert audited_route(INCIDENTS, "GET", "/v1/reports/r-9") == "/v1/reports/{report_id}"
    assert audited_route(INCIDENTS, "POST", "/v1/hotspots") == "/v1/hotspots"


def test_other_requests_are_not_audited() -> None:
    assert audited_route(PATROL, "POST", "/v1/patrols/p-1/points") is None
    assert audited_route(PATROL, "GET", "/v1/patrols") is None
    assert audited_route(PATROL, "GET", "/v1/patrols/p-1/track/extra") is None
    assert audited_route(INCIDENTS, "GET", "/v1/hotspots") is None
    assert audited_route(compile_routes(AUDITED.get("notify", ())), "GET", "/v1/inbox") is None


def test_a_token_in_the_query_is_left_out_of_the_record() -> None:
    assert without_secrets("unit=500114&access_token=eyJ.x.y&from=2026") == "unit=500114&from=2026"

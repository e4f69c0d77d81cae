"""The two roles of a patrol process (API, worker) and the refusal of a process with neither."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.patrol.app import create_app
from services.patrol.settings import PatrolSettings


def _paths(settings: PatrolSettings) -> set[str]:
    return set(create_app(settings).openapi()["paths"])


def test_default_process_serves_the_api_and_runs_the_consumers() -> None:
    settings = PatrolSettings()
    assert settings.patrol_api and settings.patrol_consumers
    assert "/v1/patrols/{patrol_id}/points" in _paths(settings)


def test_worker_serves_only_health_readiness_and_metrics() -> None:
    paths = _paths(PatrolSettings(patrol_api=False))
    assert paths == {"/healthz", "/readyz", "/metrics"}


def test_a_process_with_no_role_is_refused() -> None:
    with pytest.raises(ValidationError, match="no role"):
        PatrolSettings(patrol_api=False, patrol_consumers=False)

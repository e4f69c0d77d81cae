"""Event contracts: every event has a committed schema, and no change breaks an older consumer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.events import BY_TYPE, PatrolStarted, PatrolStartedData, UnknownEventType, parse_event
from shared.events.compat import SCHEMA_DIR, breaking_changes, current_schemas


@pytest.mark.parametrize("name", sorted(current_schemas()))
def test_every_event_has_a_committed_schema(name: str) -> None:
    assert (SCHEMA_DIR / f"{name}.json").exists(), (
        f"run `python -m shared.events.compat write` and commit shared/events/schemas/{name}.json"
    )


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_committed_schema_is_not_broken_by_the_current_model(path: object) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    current = current_schemas()
    assert path.stem in current, f"{path.stem} was removed: consumers may still send it"
    assert breaking_changes(json.loads(path.read_text()), current[path.stem]) == []


def test_breaking_change_detector_catches_removed_retyped_and_required_fields() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {"properties": {"b": {"type": "string"}, "c": {"type": "string"}}, "required": ["c"]}
    problems = breaking_changes(old, new)
    assert "a: removed" in problems
    assert any(p.startswith("b: type") for p in problems)
    assert "c: newly required" in problems
    additive = {"properties": {**old["properties"], "d": {"type": "string"}}, "required": ["a"]}
    assert breaking_changes(old, additive) == []


def test_consumer_ignores_unknown_fields_and_types() -> None:
    event = PatrolStarted.new(
        PatrolStartedData(patrol_id="p", ranger_id="r", village="v",
                          started_at=datetime(2026, 1, 1, tzinfo=UTC)),
        key="r", producer="t",
    )
    raw = json.loads(event.to_json())
    raw["new_envelope_field"] = 1
    raw["data"]["new_data_field"] = "x"
    assert parse_event(json.dumps(raw)) == event
    raw["type"] = "patrol.teleported"
    with pytest.raises(UnknownEventType):
        parse_event(json.dumps(raw))


def test_event_types_are_aggregate_past_verb() -> None:
    for name in BY_TYPE:
        aggregate, _, verb = name.partition(".")
        assert aggregate and verb and "_" not in aggregate, name


def test_readme_topic_table_is_generated_from_the_models() -> None:
    from pathlib import Path

    from shared.events.compat import topic_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert topic_table() in readme, "regenerate: python -m shared.events.compat table"

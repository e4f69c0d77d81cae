"""Committed JSON schemas of every event, and the check that a change would not break an older
consumer (a removed or retyped field, a newly required one). Regenerate with
`python -m shared.events.compat write` after an additive change; never edit the files by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.events import EVENT_TYPES
from shared.topics import TOPICS

SCHEMA_DIR = Path(__file__).with_name("schemas")


def current_schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cls in EVENT_TYPES:
        event_type = cls.model_fields["type"].default
        version = cls.model_fields["version"].default
        out[f"{event_type}.v{version}"] = cls.model_json_schema()
    return out


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(root["$defs"][ref.split("/")[-1]], root)
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return set().union(*(_types(s, root) for s in schema["anyOf"]))
    if "type" in schema:
        t = schema["type"]
        return set(t) if isinstance(t, list) else {t}
    if "$ref" in schema or "properties" in schema:
        return {"object"}
    return {"any"}


def breaking_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    path: str = "",
    old_root: dict[str, Any] | None = None,
    new_root: dict[str, Any] | None = None,
) -> list[str]:
    """What in `new` would break a consumer written against `old`."""
    old_root = old_root or old
    new_root = new_root or new
    old = _resolve(old, old_root)
    new = _resolve(new, new_root)
    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_prop in old_props.items():
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            problems.append(f"{where}: removed")
            continue
        old_t, new_t = _types(old_prop, old_root), _types(new_props[name], new_root)
        if "any" not in old_t and "any" not in new_t and not old_t <= new_t:
            problems.append(f"{where}: type {sorted(old_t)} became {sorted(new_t)}")
        problems += breaking_changes(
            old_prop, new_props[name], path=where, old_root=old_root, new_root=new_root
        )
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        if name not in old_props:
            where = f"{path}.{name}" if path else name
            problems.append(f"{where}: newly required")
    return problems


def topic_table() -> str:
    """The README's table of topics, generated from the topic plan and the event models."""
    by_topic: dict[str, list[str]] = {}
    for cls in EVENT_TYPES:
        by_topic.setdefault(cls.topic, []).append(f"`{cls.model_fields['type'].default}`")
    lines = [
        "| topic | partitions | key | owner | events | purpose |",
        "|---|---|---|---|---|---|",
    ]
    for t in TOPICS:
        events = ", ".join(by_topic.get(t.name, []))
        lines.append(
            f"| `{t.name}` | {t.partitions} | {t.key} | {t.owner} | {events} | {t.purpose} |"
        )
    return "\n".join(lines)


def write() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, schema in current_schemas().items():
        (SCHEMA_DIR / f"{name}.json").write_text(
            json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["write"]:
        write()
    elif sys.argv[1:] == ["table"]:
        print(topic_table())
    else:
        print("usage: python -m shared.events.compat write|table", file=sys.stderr)
        sys.exit(2)

"""Turns the facts of an alert or notification into a message a person can act on: what, where
(village, township), how serious, since when, and what is asked of the reader.

Pure: the wording comes from template files loaded elsewhere (`services/notify/catalog.py`) and is
passed in as a `Catalog`; this module never reads a file or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

DEFAULT_LANGUAGE = "zh"
KINDS: tuple[str, ...] = (
    "new_incident",
    "escalated",
    "sos",
    "patrol_overdue",
    "updated",
    "acknowledged",
    "status_changed",
)


class CatalogError(ValueError):
    """A template file misses a message or a label section."""


@dataclass(frozen=True)
class Message:
    title: str
    body: str


@dataclass(frozen=True)
class Catalog:
    """Templates and labels per language: {lang: {"messages": {kind: {title, body}},
    "labels": {section: {key: text}}, "asks": {...}, "formats": {...}}}."""

    languages: Mapping[str, Mapping[str, Any]]

    def __post_init__(self) -> None:
        if DEFAULT_LANGUAGE not in self.languages:
            raise CatalogError(f"the catalog needs the default language {DEFAULT_LANGUAGE!r}")
        for lang, doc in self.languages.items():
            messages = doc.get("messages") or {}
            for kind in KINDS:
                tpl = messages.get(kind)
                if not isinstance(tpl, Mapping) or "title" not in tpl or "body" not in tpl:
                    raise CatalogError(f"{lang}: messages.{kind} needs a title and a body")
            for section in ("labels", "asks", "formats"):
                if not isinstance(doc.get(section), Mapping):
                    raise CatalogError(f"{lang}: the {section!r} section is missing")

    def lang(self, lang: str) -> str:
        return lang if lang in self.languages else DEFAULT_LANGUAGE


class _Blank(dict[str, Any]):
    """format_map values: a fact missing from an old notification renders as '—', never raises."""

    def __missing__(self, key: str) -> str:
        return "—"


def pick_language(query: str | None, accept_language: str | None, available: set[str]) -> str:
    """`?lang=` wins; else the best of Accept-Language we have; else Chinese."""
    if query:
        base = query.strip().lower().split("-")[0]
        if base in available:
            return base
    if accept_language:
        choices: list[tuple[float, int, str]] = []
        for i, part in enumerate(accept_language.split(",")):
            tag, _, params = part.strip().partition(";")
            q = 1.0
            if params.strip().startswith("q="):
                try:
                    q = float(params.strip()[2:])
                except ValueError:
                    q = 0.0
            base = tag.strip().lower().split("-")[0]
            if base in available and q > 0:
                choices.append((-q, i, base))
        if choices:
            return sorted(choices)[0][2]
    return DEFAULT_LANGUAGE


def local_time(value: str | datetime | None, utc_offset_h: float, fmt: str) -> str:
    """An instant shown in the district's local time (China: UTC+8, no daylight saving)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(timezone(timedelta(hours=utc_offset_h))).strftime(fmt)


def _label(doc: Mapping[str, Any], section: str, key: object) -> str:
    table = doc["labels"].get(section) or {}
    return str(table.get(key, table.get(str(key), key if key is not None else "—")))


def _ask(doc: Mapping[str, Any], kind: str, facts: Mapping[str, Any]) -> str:
    asks = doc["asks"]
    level = int(facts.get("level", 0) or 0)
    if kind in ("sos", "patrol_overdue") and kind in asks:
        return str(asks[kind])
    if kind in ("new_incident", "escalated"):
        if level == 0 and not facts.get("verified", True):
            return str(asks.get("verify", ""))
        by_level = asks.get("by_level") or {}
        return str(by_level.get(level, by_level.get(str(level), "")))
    return str(asks.get(kind, ""))


def render(
    catalog: Catalog,
    lang: str,
    kind: str,
    facts: Mapping[str, Any],
    *,
    utc_offset_h: float = 8.0,
) -> Message:
    """The message for `kind` in `lang` (falls back to Chinese)."""
    doc = catalog.languages[catalog.lang(lang)]
    tpl = doc["messages"].get(kind) or doc["messages"]["new_incident"]
    fmt = str(doc["formats"].get("time", "%Y-%m-%d %H:%M"))
    english = catalog.lang(lang) == "en"

    def name(code_key: str) -> str:
        local = facts.get(f"{code_key}_name_en") if english else None
        return str(local or facts.get(f"{code_key}_name") or facts.get(code_key) or "—")

    values = _Blank(facts)
    values.update(
        type_name=_label(doc, "types", facts.get("type")),
        severity_name=_label(doc, "severities", facts.get("severity")),
        status_name=_label(doc, "statuses", facts.get("status")),
        level_name=_label(doc, "levels", int(facts.get("level", 0) or 0)),
        from_status_name=_label(doc, "statuses", facts.get("from_status")),
        to_status_name=_label(doc, "statuses", facts.get("to_status")),
        verified_name=_label(doc, "verified", bool(facts.get("verified", True))),
        village_name=name("village"),
        township_name=name("township"),
        since=local_time(facts.get("observed_at") or facts.get("opened_at"), utc_offset_h, fmt),
        at_local=local_time(facts.get("at"), utc_offset_h, fmt),
        last_seen=local_time(
            facts.get("last_point_at") or facts.get("started_at"), utc_offset_h, fmt
        ),
        reports=facts.get("reports", 1),
        nearest_ranger=facts.get("nearest_ranger_name") or facts.get("nearest_ranger_id") or "—",
        ranger=facts.get("ranger_name") or facts.get("ranger_id") or "—",
        actor_name=facts.get("actor_name") or facts.get("actor") or "—",
    )
    values["ask"] = _ask(doc, kind, facts).format_map(values)
    return Message(
        title=str(tpl["title"]).format_map(values).strip(),
        body=str(tpl["body"]).format_map(values).strip(),
    )

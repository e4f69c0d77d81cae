"""Satellite hotspots (卫星热点) from NASA FIRMS active-fire files (MODIS or VIIRS, CSV or the same
rows as JSON): parse and check each row, drop low confidence (policy), cluster the pixels of one
overpass by their footprint (scan × track km), one cluster = one satellite report. Pure."""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import InvalidInput
from shared.geo import haversine_m
from shared.policy import Policy

REQUIRED_COLUMNS: tuple[str, ...] = (
    "latitude",
    "longitude",
    "scan",
    "track",
    "acq_date",
    "acq_time",
    "satellite",
    "confidence",
)
BRIGHTNESS_COLUMNS: tuple[str, ...] = ("brightness", "bright_ti4")  # MODIS, VIIRS
HOTSPOT_NAMESPACE = uuid.UUID("6f1b7a8e-3d2c-4b5a-9e8f-1a2b3c4d5e6f")
# Ids the server mints for satellite reports carry their source: an app's report id is a bare
# UUID, so no app user can claim the id of a coming hotspot from the public FIRMS feed.
REPORT_ID_PREFIX = "firms:"
VIIRS_LABELS = {
    "l": "low",
    "n": "nominal",
    "h": "high",
    "low": "low",
    "nominal": "nominal",
    "high": "high",
}


class MissingColumns(InvalidInput):
    """The file lacks columns every FIRMS row must have."""


@dataclass(frozen=True)
class HotspotRow:
    row: int  # 1-based data row number (the CSV header is row 0)
    lat: float
    lon: float
    brightness: float
    scan_km: float
    track_km: float
    acquired_at: datetime
    satellite: str
    instrument: str  # MODIS or VIIRS
    confidence: str  # as given: "0"-"100" (MODIS) or l/n/h (VIIRS)
    frp: float | None
    daynight: str | None


@dataclass(frozen=True)
class RejectedRow:
    row: int
    reason: str


@dataclass(frozen=True)
class ParsedHotspots:
    rows: tuple[HotspotRow, ...]
    rejected: tuple[RejectedRow, ...]


@dataclass(frozen=True)
class Cluster:
    rows: tuple[HotspotRow, ...]

    @property
    def pixels(self) -> int:
        return len(self.rows)

    @property
    def lat(self) -> float:
        return sum(r.lat for r in self.rows) / len(self.rows)

    @property
    def lon(self) -> float:
        return sum(r.lon for r in self.rows) / len(self.rows)

    @property
    def observed_at(self) -> datetime:
        return min(r.acquired_at for r in self.rows)

    @property
    def report_id(self) -> str:
        """Deterministic: uploading the same file twice makes the same reports (idempotent);
        in the satellite's own id space (REPORT_ID_PREFIX), never an app's."""
        first = min(self.rows, key=lambda r: (r.lat, r.lon))
        key = f"{first.satellite}|{first.acquired_at.isoformat()}|{first.lat:.5f}|{first.lon:.5f}"
        return f"{REPORT_ID_PREFIX}{uuid.uuid5(HOTSPOT_NAMESPACE, key)}"

    def details(self) -> dict[str, Any]:
        frps = [r.frp for r in self.rows if r.frp is not None]
        return {
            "satellite": self.rows[0].satellite,
            "instrument": self.rows[0].instrument,
            "max_brightness_k": max(r.brightness for r in self.rows),
            "frp_mw_sum": round(sum(frps), 3) if frps else None,
            "confidence": sorted({r.confidence for r in self.rows}),
            "daynight": self.rows[0].daynight,
        }


def _float(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number ({value!r})") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{name}: not a finite number")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ValueError(f"{name}: {number:g} out of range [{lo:g}, {hi:g}]")
    return number


def _acquired(date_text: Any, time_text: Any) -> datetime:
    try:
        day = datetime.strptime(str(date_text).strip(), "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"acq_date: not YYYY-MM-DD ({date_text!r})") from None
    raw = str(time_text).strip()
    if not raw.isdigit() or len(raw) > 4:
        raise ValueError(f"acq_time: not HHMM ({time_text!r})")
    hhmm = raw.zfill(4)
    hours, minutes = int(hhmm[:2]), int(hhmm[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"acq_time: not HHMM ({time_text!r})")
    return day.replace(hour=hours, minute=minutes, tzinfo=UTC)


def _row(number: int, raw: Mapping[str, Any], *, now: datetime, future_s: float) -> HotspotRow:
    brightness_key = next((k for k in BRIGHTNESS_COLUMNS if raw.get(k) not in (None, "")), None)
    if brightness_key is None:
        raise ValueError("brightness/bright_ti4: missing")
    acquired = _acquired(raw.get("acq_date"), raw.get("acq_time"))
    if acquired > now + timedelta(seconds=future_s):
        raise ValueError(f"acq_date/acq_time: {acquired.isoformat()} is in the future")
    confidence = str(raw.get("confidence", "")).strip().lower()
    if not confidence:
        raise ValueError("confidence: missing")
    if confidence not in VIIRS_LABELS:
        _float(confidence, "confidence", 0, 100)
    frp_raw = raw.get("frp")
    satellite = str(raw.get("satellite", "")).strip()
    if not satellite:
        raise ValueError("satellite: missing")
    return HotspotRow(
        row=number,
        lat=_float(raw.get("latitude"), "latitude", -90, 90),
        lon=_float(raw.get("longitude"), "longitude", -180, 180),
        brightness=_float(raw.get(brightness_key), brightness_key, 0, 2000),
        scan_km=_float(raw.get("scan"), "scan", 0.01, 20),
        track_km=_float(raw.get("track"), "track", 0.01, 20),
        acquired_at=acquired,
        satellite=satellite,
        instrument="VIIRS" if brightness_key == "bright_ti4" else "MODIS",
        confidence=confidence,
        frp=None if frp_raw in (None, "") else _float(frp_raw, "frp", 0, 1e6),
        daynight=str(raw.get("daynight") or "").strip() or None,
    )


def _check_columns(columns: Iterable[str]) -> None:
    present = {c.strip().lower() for c in columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if not present & set(BRIGHTNESS_COLUMNS):
        missing.append("brightness or bright_ti4")
    if missing:
        raise MissingColumns(
            f"FIRMS data lacks required columns: {', '.join(missing)}",
            field=missing[0],
            errors=[{"field": m, "reason": "required FIRMS column missing"} for m in missing],
        )


def parse_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Iterable[str] | None,
    now: datetime,
    future_s: float,
) -> ParsedHotspots:
    """Check each row; good rows are taken, bad ones listed with their number and reason."""
    good: list[HotspotRow] = []
    bad: list[RejectedRow] = []
    checked = columns is not None
    if columns is not None:
        _check_columns(columns)
    for number, raw in enumerate(rows, start=1):
        if not isinstance(raw, Mapping):
            bad.append(RejectedRow(number, "not an object"))
            continue
        row = {str(k).strip().lower(): v for k, v in raw.items()}
        if not checked:
            _check_columns(row.keys())  # JSON: the first row's keys stand for the columns
            checked = True
        try:
            good.append(_row(number, row, now=now, future_s=future_s))
        except ValueError as exc:
            bad.append(RejectedRow(number, str(exc)))
    if not checked:
        raise InvalidInput("no FIRMS rows given", field="body")
    return ParsedHotspots(tuple(good), tuple(bad))


def parse_csv(text: str, *, now: datetime, future_s: float) -> ParsedHotspots:
    reader = csv.DictReader(io.StringIO(text.strip()))
    if not reader.fieldnames:
        raise InvalidInput("empty FIRMS file", field="body")
    rows: list[dict[str, Any]] = []
    for raw in reader:
        if None in raw:  # more cells than columns: keep the row, _row sees garbage
            raw = {k: v for k, v in raw.items() if k is not None}
        rows.append(dict(raw))
    return parse_rows(rows, columns=reader.fieldnames, now=now, future_s=future_s)


def is_low_confidence(row: HotspotRow, policy: Policy) -> bool:
    esc = policy.escalation
    if row.confidence in VIIRS_LABELS:
        label = row.confidence
        return (
            label in esc.hotspot_drop_confidence
            or VIIRS_LABELS[label] in esc.hotspot_drop_confidence
        )
    return float(row.confidence) < esc.hotspot_min_confidence


def _touch(a: HotspotRow, b: HotspotRow) -> bool:
    """Footprints touch (edges or corners): centres within the two half-diagonals."""
    reach_m = 500.0 * (math.hypot(a.scan_km, a.track_km) + math.hypot(b.scan_km, b.track_km))
    return haversine_m(a.lat, a.lon, b.lat, b.lon) <= reach_m


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def cluster(rows: Iterable[HotspotRow]) -> list[Cluster]:
    """Group the pixels of each overpass (satellite, acquisition time) whose footprints touch."""
    by_pass: dict[tuple[str, datetime], list[HotspotRow]] = {}
    for r in rows:
        by_pass.setdefault((r.satellite, r.acquired_at), []).append(r)
    clusters: list[Cluster] = []
    for key in sorted(by_pass, key=lambda k: (k[1], k[0])):
        members = by_pass[key]
        parent = list(range(len(members)))
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                if _touch(members[i], members[j]):
                    parent[_root(parent, i)] = _root(parent, j)
        groups: dict[int, list[HotspotRow]] = {}
        for i, r in enumerate(members):
            groups.setdefault(_root(parent, i), []).append(r)
        for group in groups.values():
            clusters.append(Cluster(tuple(sorted(group, key=lambda r: r.row))))
    return sorted(clusters, key=lambda c: c.rows[0].row)

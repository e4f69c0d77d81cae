"""The simulated district day as data: who patrols where and when, the points their phones record,
when those points reach the server (offline gaps, bursts, resends), and the incidents that happen.

Pure: no I/O, no clock, no network — a seeded `random.Random` and the org directory go in, a plan
comes out, so the same seed always gives the same day. `sim.runner` plays the plan over HTTP.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import Point
from shapely.prepared import prep

from shared.org import Level, OrgDirectory, Person, Role, Unit

M_PER_DEG_LAT = 111_320.0
SAMPLE_S = 15.0  # a phone records a position every 15 s (DOMAIN.md: "every 15 s or so")
WALK_KMH = 4.0  # walking pace on forest paths


# --- geometry helpers --------------------------------------------------------------------------


def offset_m(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point `north_m`/`east_m` metres from (lat, lon) (small distances, flat-earth)."""
    dlat = north_m / M_PER_DEG_LAT
    dlon = east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def random_point_in(
    unit: Unit, rng: random.Random, *, margin_m: float = 0.0
) -> tuple[float, float]:
    """A uniformly random (lat, lon) inside the unit, at least `margin_m` from its boundary."""
    minx, miny, maxx, maxy = unit.boundary.bounds
    inner = unit.boundary
    if margin_m > 0:
        inner = unit.boundary.buffer(-margin_m / M_PER_DEG_LAT)
        if inner.is_empty:
            inner = unit.boundary
    shape = prep(inner)
    for _ in range(10_000):
        lon = rng.uniform(minx, maxx)
        lat = rng.uniform(miny, maxy)
        if shape.contains(Point(lon, lat)):
            return lat, lon
    return unit.point


def point_near_boundary(
    org: OrgDirectory, village: Unit, rng: random.Random, *, distance_m: float = 300.0
) -> tuple[float, float]:
    """A point inside `village` about `distance_m` from its boundary with a neighbour village."""
    ring = village.boundary.exterior
    for _ in range(500):
        p = ring.interpolate(rng.uniform(0, ring.length))
        # step inward towards the village's own representative point
        lat0, lon0 = p.y, p.x
        clat, clon = village.point
        d = math.hypot(
            (clat - lat0) * M_PER_DEG_LAT,
            (clon - lon0) * M_PER_DEG_LAT * math.cos(math.radians(lat0)),
        )
        if d <= distance_m * 2:
            continue
        f = distance_m / d
        lat, lon = lat0 + (clat - lat0) * f, lon0 + (clon - lon0) * f
        home = org.locate(lat, lon)
        if home is None or home.code != village.code:
            continue
        if org.neighbours_within(lat, lon, distance_m * 2):
            return lat, lon
    return random_point_in(village, rng)


# --- patrols -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackSample:
    seq: int
    t_s: float  # seconds since the start of the simulated day
    lat: float
    lon: float
    accuracy_m: float

    def as_json(self, day_start_epoch: float) -> dict[str, Any]:
        from datetime import UTC, datetime

        return {
            "seq": self.seq,
            "t": datetime.fromtimestamp(day_start_epoch + self.t_s, UTC).isoformat(),
            "lat": round(self.lat, 7),
            "lon": round(self.lon, 7),
            "accuracy_m": round(self.accuracy_m, 1),
        }


def walk(
    village: Unit,
    rng: random.Random,
    *,
    start_s: float,
    duration_s: float,
    sample_s: float = SAMPLE_S,
    kmh: float = WALK_KMH,
) -> list[TrackSample]:
    """A random walk at about `kmh` inside the village, one sample every `sample_s` seconds.

    The heading wanders a little each step; at the boundary the ranger turns back towards the
    middle of the village, so the whole track stays inside his own zone (where patrol time counts).
    """
    shape = prep(village.boundary)
    lat, lon = random_point_in(village, rng, margin_m=200)
    heading = rng.uniform(0, 2 * math.pi)
    speed_ms = kmh / 3.6
    out: list[TrackSample] = []
    n = max(2, int(duration_s // sample_s) + 1)
    for seq in range(n):
        accuracy = rng.uniform(4, 15)
        # GPS noise: a few metres around the true position
        nlat, nlon = offset_m(lat, lon, rng.gauss(0, accuracy / 3), rng.gauss(0, accuracy / 3))
        out.append(TrackSample(seq, start_s + seq * sample_s, nlat, nlon, accuracy))
        step = speed_ms * sample_s * rng.uniform(0.7, 1.2)
        heading += rng.gauss(0, math.radians(25))
        for _ in range(8):
            tlat, tlon = offset_m(lat, lon, step * math.cos(heading), step * math.sin(heading))
            if shape.contains(Point(tlon, tlat)):
                lat, lon = tlat, tlon
                break
            clat, clon = village.point
            heading = math.atan2(
                (clon - lon) * math.cos(math.radians(lat)), clat - lat
            ) + rng.gauss(0, 0.5)
    return out


@dataclass(frozen=True)
class Upload:
    """One POST of points: at `at_s` (simulated seconds), the phone sends `samples`."""

    at_s: float
    samples: tuple[TrackSample, ...]
    resend: bool = False  # the same batch again: the app missed the answer the first time


def plan_uploads(
    samples: list[TrackSample],
    rng: random.Random,
    *,
    upload_every_s: float = 120.0,
    offline_prob: float = 0.35,
    resend_prob: float = 0.05,
    max_batch: int = 1000,
) -> list[Upload]:
    """When the phone's points reach the server.

    Online, the app uploads what it has every `upload_every_s`. With `offline_prob` the patrol
    has an offline gap (10–45 min in the hills): nothing is sent, then everything at once when the
    signal returns — split into batches of at most `max_batch`, sometimes in reverse order. Now and
    then a batch is sent twice.
    """
    if not samples:
        return []
    t0, t_end = samples[0].t_s, samples[-1].t_s
    gaps: list[tuple[float, float]] = []
    if rng.random() < offline_prob and t_end - t0 > 1200:
        length = rng.uniform(600, min(2700, (t_end - t0) * 0.6))
        start = rng.uniform(t0, t_end - length)
        gaps.append((start, start + length))
    uploads: list[Upload] = []
    pending: list[TrackSample] = []
    next_upload = t0 + upload_every_s

    def offline(t: float) -> bool:
        return any(a <= t < b for a, b in gaps)

    def flush(at: float, burst: bool) -> None:
        nonlocal pending
        chunks = [pending[i : i + max_batch] for i in range(0, len(pending), max_batch)]
        if burst and len(chunks) > 1 and rng.random() < 0.5:
            chunks.reverse()  # out of order: the sync sends the newest first
        for chunk in chunks:
            uploads.append(Upload(at, tuple(chunk)))
            if rng.random() < resend_prob:
                uploads.append(Upload(at + rng.uniform(1, 30), tuple(chunk), resend=True))
        pending = []

    was_offline = False
    for s in samples:
        pending.append(s)
        now_offline = offline(s.t_s)
        if s is samples[0] and not now_offline:
            flush(s.t_s, burst=False)  # the app sends its first fix with the start
        elif was_offline and not now_offline:
            flush(s.t_s, burst=True)
            next_upload = s.t_s + upload_every_s
        elif not now_offline and s.t_s >= next_upload:
            flush(s.t_s, burst=False)
            next_upload = s.t_s + upload_every_s
        was_offline = now_offline
    if pending:
        flush(t_end, burst=was_offline)
    return uploads


@dataclass(frozen=True)
class PatrolPlan:
    patrol_id: str
    ranger_id: str
    village: str
    start_s: float
    end_s: float
    uploads: tuple[Upload, ...]
    points: int
    resend_start: bool = False


def rangers_of(org: OrgDirectory) -> list[Person]:
    rangers = [p for p in org.people.values() if p.role is Role.RANGER]
    return sorted(rangers, key=lambda p: p.id)


def plan_patrols(
    org: OrgDirectory,
    rng: random.Random,
    *,
    walkers: int,
    day_s: float,
    upload_every_s: float = 120.0,
) -> list[PatrolPlan]:
    """`walkers` patrols over the day, cycled over the org's real rangers.

    A ranger never walks two patrols at once: when there are more walkers than rangers, each ranger
    walks several patrols one after another (the day is cut into as many slots as he has patrols).
    """
    rangers = rangers_of(org)
    if not rangers:
        return []
    per_ranger: dict[str, int] = {}
    for i in range(walkers):
        r = rangers[i % len(rangers)]
        per_ranger[r.id] = per_ranger.get(r.id, 0) + 1
    plans: list[PatrolPlan] = []
    for r in rangers:
        count = per_ranger.get(r.id, 0)
        if count == 0:
            continue
        slot = day_s / count
        village = org.unit(r.unit)
        for k in range(count):
            slot_start = k * slot
            duration = min(slot * rng.uniform(0.6, 0.9), rng.uniform(1.2, 2.6) * 3600)
            start = slot_start + rng.uniform(0, max(0.0, slot - duration - 30))
            samples = walk(village, rng, start_s=start, duration_s=duration)
            uploads = plan_uploads(samples, rng, upload_every_s=upload_every_s)
            plans.append(
                PatrolPlan(
                    patrol_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    ranger_id=r.id,
                    village=village.code,
                    start_s=start,
                    end_s=samples[-1].t_s,
                    uploads=tuple(uploads),
                    points=len(samples),
                    resend_start=rng.random() < 0.1,
                )
            )
    plans.sort(key=lambda p: p.start_s)
    return plans


# --- incidents ---------------------------------------------------------------------------------

SISLUAN = ("illegal_logging", "poaching", "illegal_digging", "land_occupation")


@dataclass(frozen=True)
class ReportPlan:
    """One report sent at `at_s` by `person_id`; `scenario` names the story it belongs to."""

    at_s: float
    person_id: str
    type: str
    lat: float
    lon: float
    scenario: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    report_id: str = ""


@dataclass(frozen=True)
class HotspotPlan:
    """A FIRMS active-fire CSV file posted at `at_s` (rows already formatted)."""

    at_s: float
    rows: tuple[dict[str, Any], ...]
    scenario: str


@dataclass(frozen=True)
class PestPlan:
    """A suspect pine-wilt tree found at `at_s`, whose closed loop is walked afterwards."""

    report: ReportPlan
    step_every_s: float


@dataclass
class DayPlan:
    day_s: float
    patrols: list[PatrolPlan]
    reports: list[ReportPlan]
    hotspots: list[HotspotPlan]
    pests: list[PestPlan]

    @property
    def points(self) -> int:
        return sum(p.points for p in self.patrols)


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ranger_in(org: OrgDirectory, village: str, rng: random.Random) -> str:
    rangers = org.people_in(village, Role.RANGER)
    return rng.choice(rangers).id if rangers else rng.choice(rangers_of(org)).id


def villages_of(org: OrgDirectory) -> list[Unit]:
    return sorted((u for u in org.units.values() if u.level is Level.VILLAGE), key=lambda u: u.code)


def firms_rows(
    lat: float, lon: float, rng: random.Random, *, pixels: int, low_confidence: int = 0
) -> list[dict[str, Any]]:
    """VIIRS-like FIRMS rows: `pixels` adjacent detections around (lat, lon), plus a few
    low-confidence rows elsewhere in the cluster (which the service must drop)."""
    rows: list[dict[str, Any]] = []
    for i in range(pixels + low_confidence):
        plat, plon = offset_m(lat, lon, rng.uniform(-250, 250), rng.uniform(-250, 250))
        rows.append(
            {
                "latitude": round(plat, 5),
                "longitude": round(plon, 5),
                "bright_ti4": round(rng.uniform(320, 367), 1),
                "scan": 0.39,
                "track": 0.36,
                "acq_date": "",  # filled at send time
                "acq_time": "",
                "satellite": "N",
                "confidence": "l" if i >= pixels else rng.choice(["n", "h"]),
                "frp": round(rng.uniform(2, 30), 1),
                "daynight": "D",
            }
        )
    return rows


def plan_day(
    org: OrgDirectory,
    rng: random.Random,
    *,
    walkers: int,
    day_s: float,
    fires: int = 3,
    pests: int = 2,
    sisluan: int = 6,
    public: int = 4,
    hotspot_files: int = 2,
    upload_every_s: float = 120.0,
) -> DayPlan:
    """The whole day: patrols, and the stories of the day at fixed moments of it.

    - fire 0 grows: first seen at 0.3 ha, follow-up reports at 1.5, 25 and 120 ha cross the
      1 / 20 / 100 ha bands (each a re-escalation), all within a few hundred metres;
    - fire 1 starts ~300 m from a village boundary (the neighbour's chain must hear of it);
    - further fires are small smoke sightings, some from the public;
    - pest finds walk the pine-wilt closed loop; 四乱 reports by rangers; public reports;
    - FIRMS hotspot files: one cluster of ≥ 3 pixels near the growing fire plus low-confidence rows.
    """
    villages = villages_of(org)
    patrols = plan_patrols(
        org, rng, walkers=walkers, day_s=day_s, upload_every_s=upload_every_s
    )
    reports: list[ReportPlan] = []
    hotspots: list[HotspotPlan] = []
    pest_plans: list[PestPlan] = []
    used: list[tuple[float, float]] = []

    def fresh_point(village: Unit, spacing_m: float = 1500) -> tuple[float, float]:
        for _ in range(200):
            lat, lon = random_point_in(village, rng, margin_m=150)
            if all(
                math.hypot(
                    (lat - a) * M_PER_DEG_LAT,
                    (lon - b) * M_PER_DEG_LAT * math.cos(math.radians(lat)),
                )
                > spacing_m
                for a, b in used
            ):
                used.append((lat, lon))
                return lat, lon
        lat, lon = random_point_in(village, rng)
        used.append((lat, lon))
        return lat, lon

    def report(at_s: float, person: str, type_: str, lat: float, lon: float, scenario: str,
               description: str = "", details: dict[str, Any] | None = None) -> ReportPlan:
        plan = ReportPlan(at_s, person, type_, lat, lon, scenario, description, details or {},
                          _uid(rng))
        reports.append(plan)
        return plan

    # fire 0: grows across the area bands
    if fires >= 1:
        v = villages[rng.randrange(len(villages))]
        lat, lon = fresh_point(v)
        t = day_s * 0.15
        ranger = _ranger_in(org, v.code, rng)
        report(t, ranger, "fire", lat, lon, "fire-growing", "林下起火，明火，面积约0.3公顷",
               {"burned_area_ha": 0.3})
        for k, area in enumerate((1.5, 25.0, 120.0), start=1):
            flat, flon = offset_m(lat, lon, rng.uniform(-200, 200), rng.uniform(-200, 200))
            report(t + k * day_s * 0.06, _ranger_in(org, v.code, rng), "fire", flat, flon,
                   "fire-growing", f"火势蔓延，过火面积约{area:g}公顷", {"burned_area_ha": area})
        for k in range(min(hotspot_files, 1)):
            hotspots.append(HotspotPlan(t + day_s * 0.03 + k, tuple(
                firms_rows(lat, lon, rng, pixels=3, low_confidence=2)), "fire-growing"))
    # fire 1: near a boundary
    if fires >= 2:
        v = villages[rng.randrange(len(villages))]
        lat, lon = point_near_boundary(org, v, rng, distance_m=300)
        used.append((lat, lon))
        report(day_s * 0.35, _ranger_in(org, v.code, rng), "fire", lat, lon, "fire-boundary",
               "山脊线附近起火，靠近村界", {"burned_area_ha": 0.5})
    # further fires: smoke seen by the public, then confirmed by a ranger
    for _ in range(2, fires):
        v = villages[rng.randrange(len(villages))]
        lat, lon = fresh_point(v)
        t = day_s * rng.uniform(0.4, 0.8)
        report(t, rng.choice(["pub-1", "pub-2"]) if org.person("pub-1") else
               _ranger_in(org, v.code, rng), "smoke", lat, lon, "smoke-public",
               "山上有烟，疑似火情")
        flat, flon = offset_m(lat, lon, rng.uniform(-100, 100), rng.uniform(-100, 100))
        report(t + day_s * 0.03, _ranger_in(org, v.code, rng), "fire", flat, flon,
               "smoke-public", "现场核实：小面积地表火", {"burned_area_ha": 0.1})
    # satellite hotspots elsewhere (a second file: a small cluster, unverified)
    for k in range(1, hotspot_files):
        v = villages[rng.randrange(len(villages))]
        lat, lon = fresh_point(v)
        hotspots.append(HotspotPlan(day_s * rng.uniform(0.2, 0.9), tuple(
            firms_rows(lat, lon, rng, pixels=1 + k % 2, low_confidence=1)), "hotspot"))
    # pest finds: their closed loop follows
    for _ in range(pests):
        v = villages[rng.randrange(len(villages))]
        lat, lon = fresh_point(v, spacing_m=400)
        r = report(day_s * rng.uniform(0.05, 0.4), _ranger_in(org, v.code, rng), "pest", lat, lon,
                   "pest-loop", "疑似松材线虫病：松针红褐色，整株枯死，流脂停止",
                   {"dead_trees": rng.randint(1, 6),
                    "subcompartment": f"{v.code}-{rng.randint(1, 40):02d}"})
        pest_plans.append(PestPlan(r, step_every_s=day_s * 0.04))
    # 四乱
    for _ in range(sisluan):
        v = villages[rng.randrange(len(villages))]
        lat, lon = fresh_point(v, spacing_m=400)
        type_ = rng.choice(SISLUAN)
        details: dict[str, Any] = {}
        if type_ == "land_occupation":
            details = {"area_mu": rng.choice([2, 6, 12])}
        if type_ == "poaching" and rng.random() < 0.3:
            details = {"protected_wildlife": True}
        report(day_s * rng.uniform(0.05, 0.95), _ranger_in(org, v.code, rng), type_, lat, lon,
               "sisluan", {"illegal_logging": "发现盗伐林木", "poaching": "发现捕猎夹",
                           "illegal_digging": "发现盗挖兰草", "land_occupation": "林地被占用建房"}
               [type_], details)
    # public reports
    publics = [p.id for p in org.people.values() if p.role is Role.PUBLIC] or [
        rangers_of(org)[0].id
    ]
    for _ in range(public):
        v = villages[rng.randrange(len(villages))]
        lat, lon = fresh_point(v, spacing_m=400)
        type_ = rng.choice(["wildlife_damage", "other", "illegal_logging"])
        report(day_s * rng.uniform(0.05, 0.95), rng.choice(publics), type_, lat, lon, "public",
               "群众举报")
    reports.sort(key=lambda r: r.at_s)
    hotspots.sort(key=lambda h: h.at_s)
    return DayPlan(day_s, patrols, reports, hotspots, pest_plans)

"""The policy file's shape: every threshold Hulin applies, with DOMAIN.md's defaults.

Pure data and pure helpers (no I/O, no clock): local rules change the YAML file, never this code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import Point, shape

H = 3600  # seconds in an hour, for readable defaults


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- merging -----------------------------------------------------------------------------------


class MergeWindow(_Frozen):
    """A report joins an open incident of its family within this distance and time."""

    distance_m: float = Field(gt=0)
    window_s: float = Field(gt=0)


DEFAULT_FAMILIES: dict[str, str] = {
    "fire": "fire",
    "smoke": "fire",
    "hotspot": "fire",
    "pest": "pest",
    "illegal_logging": "sisluan",  # 乱砍滥伐
    "poaching": "sisluan",  # 乱捕滥猎
    "illegal_digging": "sisluan",  # 乱采滥挖
    "land_occupation": "sisluan",  # 乱占滥用林地
    "wildlife_damage": "other",
    "sos": "safety",
    "other": "other",
}


class Merging(_Frozen):
    default: MergeWindow = MergeWindow(distance_m=300, window_s=24 * H)
    windows: dict[str, MergeWindow] = Field(
        default_factory=lambda: {"fire": MergeWindow(distance_m=1000, window_s=6 * H)}
    )  # per family
    families: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FAMILIES))


# --- escalation --------------------------------------------------------------------------------

_FIRE = (5 * 60.0, 10 * 60.0, 15 * 60.0)


def _default_deadlines() -> dict[str, tuple[float, ...]]:
    sisluan = (30 * 60.0, 2.0 * H, 4.0 * H)
    other = (4.0 * H, 24.0 * H, 48.0 * H)
    return {
        "fire": _FIRE,
        "smoke": _FIRE,
        "hotspot": _FIRE,
        "pest": (24.0 * H, 48.0 * H, 72.0 * H),
        "illegal_logging": sisluan,
        "poaching": sisluan,
        "illegal_digging": sisluan,
        "land_occupation": sisluan,
        "wildlife_damage": other,
        "sos": (120.0, 300.0, 600.0),
        "other": other,
    }


class FireStart(_Frozen):
    """Fire-family incidents that start at `serious_level` (district + HQ) instead of level 0."""

    serious_level: int = Field(default=3, ge=0)
    any_casualty: bool = True
    min_area_ha: float = Field(default=1.0, ge=0)
    near_boundary: bool = True  # within `escalation.boundary_proximity_m` of the district edge
    hotspot_min_pixels: int = Field(default=3, ge=1)


class SisluanStart(_Frozen):
    """四乱 (illegal logging, poaching, digging, land occupation): police and district rules."""

    start_level: int = Field(default=0, ge=0)
    police_at_level: int = Field(default=0, ge=0)  # 林长+警长: township police from this level
    serious_level: int = Field(default=2, ge=0)  # to the district when serious
    in_progress: bool = True
    protected_wildlife: bool = True
    land_occupation_min_mu_public_welfare: float = Field(default=5, gt=0)  # 公益林, 亩
    land_occupation_min_mu_commercial: float = Field(default=10, gt=0)  # 商品林, 亩


class StartLevels(_Frozen):
    default: int = Field(default=0, ge=0)
    by_type: dict[str, int] = Field(default_factory=lambda: {"sos": 2})
    fire: FireStart = FireStart()
    sisluan: SisluanStart = SisluanStart()


class Reescalation(_Frozen):
    area_bands_ha: tuple[float, ...] = (1.0, 20.0, 100.0, 1000.0)
    flame_not_out_h: tuple[float, ...] = (12.0, 24.0)


class Escalation(_Frozen):
    max_level: int = Field(default=3, ge=0)  # 0 village chain, 1 township, 2 district, 3 HQ
    deadlines_s: dict[str, tuple[float, ...]] = Field(default_factory=_default_deadlines)
    default_deadlines_s: tuple[float, ...] = (4.0 * H, 24.0 * H, 48.0 * H)
    start: StartLevels = StartLevels()
    reescalation: Reescalation = Reescalation()
    boundary_proximity_m: float = Field(default=1000, ge=0)
    hotspot_min_pixels_at_once: int = Field(default=3, ge=1)
    hotspot_min_confidence: float = Field(default=30, ge=0, le=100)
    hotspot_drop_confidence: tuple[str, ...] = ("low", "l")
    fire_ban_factor: float = Field(default=0.5, gt=0, le=1)

    @field_validator("deadlines_s")
    @classmethod
    def _positive(cls, value: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        for kind, steps in value.items():
            if any(s <= 0 for s in steps):
                raise ValueError(f"{kind}: every deadline must be > 0 seconds")
        return value


# --- fire bans ---------------------------------------------------------------------------------


class FireBanKind(StrEnum):
    FIRE_BAN = "fire_ban"  # 禁火令 (森林防火条例 art. 28)
    MOUNTAIN_CLOSURE = "mountain_closure"  # 封山令


class FireBan(_Frozen):
    """A 禁火令 or 封山令 over unit codes or a GeoJSON polygon, for [starts_at, ends_at)."""

    id: str
    kind: FireBanKind
    area: list[str] | dict[str, Any]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    issuer: str

    @field_validator("area")
    @classmethod
    def _area(cls, value: list[str] | dict[str, Any]) -> list[str] | dict[str, Any]:
        if isinstance(value, dict):
            if value.get("type") not in ("Polygon", "MultiPolygon"):
                raise ValueError("a GeoJSON Polygon/MultiPolygon or a list of unit codes")
            try:
                geom = shape(value)
            except Exception as exc:
                raise ValueError(f"bad GeoJSON: {exc}") from exc
            if not geom.is_valid:
                raise ValueError("invalid polygon")
        elif not value:
            raise ValueError("at least one unit code")
        return value

    @model_validator(mode="after")
    def _order(self) -> FireBan:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def active_at(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def covers(self, *, lat: float, lon: float, unit_codes: list[str] | tuple[str, ...]) -> bool:
        """True when the point (with the codes of its village and ancestors) is in the area."""
        if isinstance(self.area, list):
            return any(code in self.area for code in unit_codes)
        return bool(shape(self.area).intersects(Point(lon, lat)))


# --- pest loop ---------------------------------------------------------------------------------


class PestStep(_Frozen):
    name: str
    evidence: tuple[str, ...] = ()  # items required before the loop moves past this step


def _default_pest_steps() -> tuple[PestStep, ...]:
    return (
        PestStep(name="reported", evidence=("photo", "gps", "subcompartment")),
        PestStep(name="checked", evidence=("photo", "gps")),
        PestStep(name="sampled", evidence=("photo", "sampler", "sample_label")),
        PestStep(name="county_test", evidence=("lab_result",)),
        PestStep(name="city_recheck", evidence=("lab_result",)),
        PestStep(name="province_confirm", evidence=("lab_result",)),
        PestStep(name="marked", evidence=("subcompartment",)),
        PestStep(name="felling_assigned", evidence=("assignee",)),
        PestStep(name="felled", evidence=("stump_photo", "gps")),
        PestStep(name="disposed", evidence=("disposal_photo",)),
        PestStep(name="accepted", evidence=("cleared_site_photo", "signed_commitment")),
        PestStep(name="surveillance", evidence=()),
    )


class PestLoop(_Frozen):
    steps: tuple[PestStep, ...] = Field(default_factory=_default_pest_steps)
    negative_closes_at: tuple[str, ...] = (
        "checked",
        "county_test",
        "city_recheck",
        "province_confirm",
    )
    # Step deadlines: `check_step` done within `check_within_s` of the report, `dispose_step`
    # within `dispose_within_s` of `confirm_step`; a missed one climbs the chain one level.
    check_within_s: float = Field(default=24 * H, gt=0)
    dispose_within_s: float = Field(default=48 * H, gt=0)  # from province confirmation
    check_step: str = "checked"
    confirm_step: str = "province_confirm"
    dispose_step: str = "disposed"
    outbreak_cleared_within_days: int = Field(default=365, gt=0)

    @model_validator(mode="after")
    def _names(self) -> PestLoop:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique")
        unknown = [n for n in self.negative_closes_at if n not in names]
        if unknown:
            raise ValueError(f"negative_closes_at names unknown steps: {', '.join(unknown)}")
        for key in ("check_step", "confirm_step", "dispose_step"):
            if getattr(self, key) not in names:
                raise ValueError(f"{key} names an unknown step: {getattr(self, key)!r}")
        if names.index(self.confirm_step) >= names.index(self.dispose_step):
            raise ValueError("confirm_step must come before dispose_step")
        return self

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def evidence_for(self, step: str) -> tuple[str, ...]:
        for s in self.steps:
            if s.name == step:
                return s.evidence
        raise KeyError(step)

    def next_step(self, step: str) -> str | None:
        names = self.step_names()
        i = names.index(step)
        return names[i + 1] if i + 1 < len(names) else None


# --- patrol and reports --------------------------------------------------------------------------


class PatrolPolicy(_Frozen):
    overdue_after_s: float = Field(default=3600, gt=0)
    late_points_accept_s: float = Field(default=86400, gt=0)
    max_speed_kmh: float = Field(default=30, gt=0)
    jump_m: float = Field(default=1000, gt=0)
    jump_within_s: float = Field(default=60, gt=0)
    gap_s: float = Field(default=600, gt=0)
    future_tolerance_s: float = Field(default=300, ge=0)
    max_points_per_batch: int = Field(default=1000, gt=0)
    fire_ban_target_multiplier: float = Field(default=1.5, ge=1)


class ReportsPolicy(_Frozen):
    max_description_chars: int = Field(default=2000, gt=0)
    max_photos: int = Field(default=10, ge=0)


class Limits(_Frozen):
    """How much one person may ask of Hulin; past it the answer is 429 with Retry-After."""

    # reports per person per minute, by role (`default` for roles not named)
    reports_per_minute: dict[str, int] = Field(
        default_factory=lambda: {"public": 6, "ranger": 120, "default": 600}
    )
    streams_per_person: int = Field(default=4, gt=0)  # live alert streams open at once

    def reports_for(self, role: str) -> int:
        return self.reports_per_minute.get(role, self.reports_per_minute.get("default", 600))


# --- assessment (督查考核) ------------------------------------------------------------------------


class DailyStandard(_Frozen):
    """What a ranger's day must hold to count for 出巡达标率. Unset, a village's own valid-day rule
    applies (its min_distance_m and min_duration_s in zone); some counties use ≥ 1 km and ≥ 1 h for
    every village, which is what setting both here says."""

    min_distance_m: float | None = Field(default=None, gt=0)
    min_duration_s: float | None = Field(default=None, gt=0)


class Targets(_Frozen):
    """The share of the roster each daily rate should reach (0–1)."""

    online: float = Field(default=0.9, ge=0, le=1)  # 上线率
    patrolled: float = Field(default=0.9, ge=0, le=1)  # 巡护率
    met_standard: float = Field(default=0.9, ge=0, le=1)  # 出巡达标率


PERIOD_KINDS = ("week", "month", "quarter", "year")


class ChiefDuty(_Frozen):
    """Chiefs patrol their own area too (林长巡林): how often, and what a duty patrol holds."""

    # the period of each chief's duty by the level of their unit: week | month | quarter | year
    period_by_level: dict[str, str] = Field(
        default_factory=lambda: {"village": "week", "township": "month", "district": "quarter"}
    )
    min_duration_s: float = Field(default=3600, ge=0)
    min_distance_m: float = Field(default=1000, ge=0)
    remind_before_s: float = Field(default=2 * 24 * H, ge=0)

    @model_validator(mode="after")
    def _periods(self) -> ChiefDuty:
        bad = {k: v for k, v in self.period_by_level.items() if v not in PERIOD_KINDS}
        if bad:
            kinds = ", ".join(PERIOD_KINDS)
            raise ValueError(f"period_by_level: unknown period {bad} (one of {kinds})")
        return self


class Pace(_Frozen):
    """履职跟踪提示: from this day of the month, remind a ranger whose valid days so far are fewer
    than the month's rule prorated to the day, and at the end of a ten-day part that had none."""

    from_day: int = Field(default=11, ge=1, le=28)
    dekad_without_valid_day: bool = True


class AssessmentPolicy(_Frozen):
    standard: DailyStandard = DailyStandard()
    targets: Targets = Targets()
    chief_duty: ChiefDuty = ChiefDuty()
    pace: Pace = Pace()
    # the monthly score: weights of each part (normalised by their sum)
    score_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "patrol_compliance": 0.35,
            "chief_duty": 0.15,
            "ack_on_time": 0.2,
            "closure_rate": 0.15,
            "pest_steps_on_time": 0.15,
        }
    )
    max_range_months: int = Field(default=12, ge=1)  # the longest period one request may ask for

    @model_validator(mode="after")
    def _weights(self) -> AssessmentPolicy:
        if any(w < 0 for w in self.score_weights.values()) or not sum(self.score_weights.values()):
            raise ValueError("score_weights: weights are ≥ 0 and not all 0")
        return self


# --- the whole policy ----------------------------------------------------------------------------


class Policy(_Frozen):
    version: int = 1
    merging: Merging = Merging()
    escalation: Escalation = Escalation()
    fire_bans: tuple[FireBan, ...] = ()
    pest_loop: PestLoop = PestLoop()
    patrol: PatrolPolicy = PatrolPolicy()
    reports: ReportsPolicy = ReportsPolicy()
    limits: Limits = Limits()
    assessment: AssessmentPolicy = AssessmentPolicy()

    def family_of(self, type_: str) -> str:
        """The incident family of a report type (`smoke` → `fire`); unknown types → `other`."""
        return self.merging.families.get(type_, "other")

    def window_for(self, type_: str) -> tuple[float, float]:
        """(distance_m, window_s) within which a report of this type joins an open incident."""
        window = self.merging.windows.get(self.family_of(type_), self.merging.default)
        return window.distance_m, window.window_s

    def deadline_s(self, type_: str, level: int, *, fire_ban_active: bool = False) -> float | None:
        """Seconds to acknowledge at `level` before climbing; None at or past the top level."""
        if level < 0 or level >= self.escalation.max_level:
            return None
        steps = self.escalation.deadlines_s.get(type_, self.escalation.default_deadlines_s)
        if not steps:
            return None
        seconds = steps[min(level, len(steps) - 1)]
        if fire_ban_active and self.family_of(type_) == "fire":
            seconds *= self.escalation.fire_ban_factor
        return seconds

    def start_level(self, type_: str) -> int:
        """The plain start level of a type, before severity rules (sos → 2)."""
        return self.escalation.start.by_type.get(type_, self.escalation.start.default)

    def active_fire_bans(self, at: datetime) -> list[FireBan]:
        return [b for b in self.fire_bans if b.active_at(at)]

"""Plays a planned district day (`sim.world`) against a running Hulin over HTTP, sped up, and
counts what happened: reports accepted, incidents, escalations, notifications, and reports lost.

Time: the simulated day is compressed by `speedup`. Tracks are recorded in simulated time, so the
day is back-dated (it ends "now"): a point is never in the future and walking speeds stay real.
Reports, acknowledgements and hotspot files happen in wall time, when the story reaches them, so
escalation deadlines run on the real clock exactly as they would in the field.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.org import OrgDirectory, Role
from shared.policy import Policy
from sim.api import Api, Outcome
from sim.world import DayPlan, HotspotPlan, PatrolPlan, PestPlan, ReportPlan

log = logging.getLogger("sim")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass
class SimClock:
    """Maps simulated seconds of the day onto wall time (sped up) and onto recorded timestamps."""

    day_s: float
    speedup: float
    wall0: float = field(default_factory=time.monotonic)
    epoch0: float = field(default_factory=time.time)

    @property
    def day_start_epoch(self) -> float:
        """Recorded time of simulated second 0: the day is back-dated so that it ends now."""
        return self.epoch0 - self.day_s + self.day_s / self.speedup

    def wall_at(self, sim_s: float) -> float:
        return self.wall0 + sim_s / self.speedup

    async def sleep_until(self, sim_s: float) -> None:
        delay = self.wall_at(sim_s) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def sim_now(self) -> float:
        return (time.monotonic() - self.wall0) * self.speedup


@dataclass
class Tally:
    patrols_started: int = 0
    patrols_finished: int = 0
    points_sent: int = 0
    points_resent: int = 0
    points_accepted: int = 0
    points_duplicates: int = 0
    uploads: int = 0
    uploads_failed: int = 0
    reports_sent: int = 0
    reports_rejected: int = 0
    hotspot_files: int = 0
    hotspot_rows_accepted: int = 0
    acks: int = 0
    acks_refused: int = 0
    pest_steps: int = 0
    pest_steps_refused: int = 0
    # report id -> reporter id, for every report answered 202
    accepted: dict[str, str] = field(default_factory=dict)
    scenario_of: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Summary:
    reports_accepted: int
    incidents: int
    escalations: int
    max_level: int
    notifications: int | None
    lost: int
    lost_ids: list[str]
    multi_incident: int
    tally: Tally
    incidents_by_type: dict[str, int]
    wall_s: float

    def lines(self) -> list[str]:
        t = self.tally
        notes = "n/a" if self.notifications is None else str(self.notifications)
        return [
            "── Hulin district day: summary ─────────────────────────────",
            f"patrols started/finished   {t.patrols_started}/{t.patrols_finished}",
            f"points sent/resent         {t.points_sent}/{t.points_resent} in {t.uploads} "
            f"uploads ({t.uploads_failed} failed); server: {t.points_accepted} accepted, "
            f"{t.points_duplicates} duplicates",
            f"reports accepted           {self.reports_accepted} "
            f"(rejected {t.reports_rejected})",
            f"hotspot files/rows         {t.hotspot_files}/{t.hotspot_rows_accepted}",
            f"incidents                  {self.incidents} "
            f"{dict(sorted(self.incidents_by_type.items()))}",
            f"escalations                {self.escalations} (highest level {self.max_level})",
            f"acknowledged by chiefs     {t.acks} (refused {t.acks_refused})",
            f"pest loop steps            {t.pest_steps} (refused {t.pest_steps_refused})",
            f"notifications (inboxes)    {notes}",
            f"lost reports               {self.lost}" + ("  ✓" if self.lost == 0 else "  ✗"),
            f"wall time                  {self.wall_s:.0f} s",
        ]

    def as_dict(self) -> dict[str, Any]:
        t = self.tally
        return {
            "reports_accepted": self.reports_accepted,
            "incidents": self.incidents,
            "incidents_by_type": self.incidents_by_type,
            "escalations": self.escalations,
            "max_level": self.max_level,
            "notifications": self.notifications,
            "lost": self.lost,
            "lost_ids": self.lost_ids[:50],
            "reports_in_several_incidents": self.multi_incident,
            "patrols_started": t.patrols_started,
            "patrols_finished": t.patrols_finished,
            "points_sent": t.points_sent,
            "points_resent": t.points_resent,
            "points_accepted": t.points_accepted,
            "points_duplicates": t.points_duplicates,
            "acks": t.acks,
            "pest_steps": t.pest_steps,
            "hotspot_rows_accepted": t.hotspot_rows_accepted,
            "errors": dict(t.errors),
            "wall_s": round(self.wall_s, 1),
        }


class DayRunner:
    def __init__(
        self,
        *,
        api: Api,
        org: OrgDirectory,
        policy: Policy,
        plan: DayPlan,
        speedup: float,
        ack_prob: float = 0.5,
        seed: int = 1,
        watcher_id: str | None = None,
        quiet: bool = False,
    ) -> None:
        self.api = api
        self.org = org
        self.policy = policy
        self.plan = plan
        self.clock = SimClock(plan.day_s, speedup)
        self.ack_prob = ack_prob
        self.seed = seed
        self.tally = Tally()
        self.quiet = quiet
        cc = [p.id for p in org.people.values() if p.role is Role.COMMAND_CENTER]
        dc = [p.id for p in org.people.values() if p.role is Role.DISTRICT_CHIEF]
        self.watcher_id = watcher_id or (sorted(cc) or sorted(dc))[0]
        self._seen_incidents: set[str] = set()
        self._stop = asyncio.Event()

    def say(self, msg: str) -> None:
        if not self.quiet:
            stamp = iso(self.clock.day_start_epoch + self.clock.sim_now())[11:16]
            print(f"[sim {stamp}] {msg}", flush=True)

    # ---- patrols ------------------------------------------------------------------------------
    async def run_patrol(self, p: PatrolPlan) -> None:
        api, base, t = self.api, self.api.endpoints.patrol, self.tally
        await self.clock.sleep_until(p.start_s)
        body = {"id": p.patrol_id, "started_at": iso(self.clock.day_start_epoch + p.start_s)}
        r = await api.call("POST", f"{base}/v1/patrols", p.ranger_id, json=body)
        if r.status not in (200, 201):
            t.errors[f"patrol start {r.status}"] += 1
            log.warning("patrol start refused: %s %s", r.status, r.body)
            return
        t.patrols_started += 1
        if p.resend_start:
            again = await api.call("POST", f"{base}/v1/patrols", p.ranger_id, json=body)
            if again.status not in (200, 201):
                t.errors[f"patrol restart {again.status}"] += 1
        for upload in p.uploads:
            await self.clock.sleep_until(upload.at_s)
            points = [s.as_json(self.clock.day_start_epoch) for s in upload.samples]
            if upload.resend:
                t.points_resent += len(points)
            else:
                t.points_sent += len(points)
            t.uploads += 1
            r = await api.call(
                "POST", f"{base}/v1/patrols/{p.patrol_id}/points", p.ranger_id,
                json={"points": points},
            )
            if r.status == 202 and isinstance(r.body, dict):
                t.points_accepted += int(r.body.get("accepted", 0))
                t.points_duplicates += int(r.body.get("duplicates", 0))
            else:
                t.uploads_failed += 1
                t.errors[f"points {r.status}"] += 1
                if t.errors[f"points {r.status}"] <= 3:
                    log.warning("points refused: %s %s", r.status, str(r.body)[:300])
                if r.status == 0 or r.status >= 500:
                    # the app gave up after resending for give_up_s: this phone stops syncing
                    t.errors["patrols abandoned"] += 1
                    break
        await self.clock.sleep_until(p.end_s + 30)
        r = await api.call(
            "POST", f"{base}/v1/patrols/{p.patrol_id}/finish", p.ranger_id,
            json={"ended_at": iso(self.clock.day_start_epoch + p.end_s)},
        )
        if r.status == 200:
            t.patrols_finished += 1
        else:
            t.errors[f"patrol finish {r.status}"] += 1

    # ---- reports ------------------------------------------------------------------------------
    async def send_report(self, rp: ReportPlan) -> Outcome:
        await self.clock.sleep_until(rp.at_s)
        observed = time.time() - random.Random(rp.report_id).uniform(5, 90)
        body: dict[str, Any] = {
            "id": rp.report_id,
            "type": rp.type,
            "lat": round(rp.lat, 6),
            "lon": round(rp.lon, 6),
            "observed_at": iso(observed),
        }
        if rp.description:
            body["description"] = rp.description
        if rp.details:
            body["details"] = rp.details
        self.tally.reports_sent += 1
        r = await self.api.call(
            "POST", f"{self.api.endpoints.incidents}/v1/reports", rp.person_id, json=body
        )
        if r.status == 202:
            self.tally.accepted[rp.report_id] = rp.person_id
            self.tally.scenario_of[rp.report_id] = rp.scenario
            self.say(f"{rp.scenario}: {rp.person_id} reported {rp.type} "
                     f"{rp.details or ''} → 202")
        else:
            self.tally.reports_rejected += 1
            self.tally.errors[f"report {r.status}"] += 1
            self.say(f"{rp.scenario}: report {rp.type} refused {r.status}: {str(r.body)[:200]}")
        return r

    async def send_hotspots(self, hp: HotspotPlan) -> None:
        await self.clock.sleep_until(hp.at_s)
        now = datetime.now(UTC) - timedelta(minutes=3)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(hp.rows[0]))
        writer.writeheader()
        for row in hp.rows:
            writer.writerow({**row, "acq_date": now.strftime("%Y-%m-%d"),
                             "acq_time": now.strftime("%H%M")})
        r = await self.api.call(
            "POST", f"{self.api.endpoints.incidents}/v1/hotspots", self.watcher_id,
            content=buf.getvalue().encode(), content_type="text/csv",
        )
        self.tally.hotspot_files += 1
        if r.status == 202 and isinstance(r.body, dict):
            accepted = r.body.get("accepted", 0)
            n = accepted if isinstance(accepted, int) else len(accepted)
            self.tally.hotspot_rows_accepted += n
            for rid in _report_ids(r.body):
                self.tally.accepted[rid] = self.watcher_id
                self.tally.scenario_of[rid] = hp.scenario
            self.say(f"satellite: FIRMS file with {len(hp.rows)} rows → 202 {r.body}")
        else:
            self.tally.errors[f"hotspots {r.status}"] += 1
            self.say(f"satellite: FIRMS file refused {r.status}: {str(r.body)[:200]}")

    async def incident_of(self, report_id: str, person_id: str, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while True:
            r = await self.api.call(
                "GET", f"{self.api.endpoints.incidents}/v1/reports/{report_id}", person_id,
                give_up_s=10,
            )
            if r.status == 200 and isinstance(r.body, dict) and r.body.get("incident_id"):
                return str(r.body["incident_id"])
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(1.0)

    # ---- pest closed loop ---------------------------------------------------------------------
    async def run_pest(self, pp: PestPlan) -> None:
        r = await self.send_report(pp.report)
        if r.status != 202:
            return
        incident_id = await self.incident_of(pp.report.report_id, pp.report.person_id, 60)
        if incident_id is None:
            return
        village = pp.report.lat, pp.report.lon
        home = self.org.locate(*village)
        actors = self._chain_for(home.code if home else None)
        at = pp.report.at_s
        for i, step in enumerate(self.policy.pest_loop.step_names()):
            at += pp.step_every_s if i else pp.step_every_s / 4
            await self.clock.sleep_until(at)
            if self._stop.is_set():
                return
            evidence = {
                item: _evidence_value(item, pp.report) for item in
                self.policy.pest_loop.evidence_for(step)
            }
            body: dict[str, Any] = {"step": step, "evidence": evidence,
                                    "note": f"松材线虫病闭环：{step}"}
            if "lab_result" in evidence or step in self.policy.pest_loop.negative_closes_at:
                body["result"] = "positive"  # a positive find walks the whole loop
            done = False
            for actor in actors:
                out = await self.api.call(
                    "POST", f"{self.api.endpoints.incidents}/v1/incidents/{incident_id}/pest-steps",
                    actor, json=body,
                )
                if out.status == 200:
                    done = True
                    break
                if out.status not in (403, 404):
                    break
            if done:
                self.tally.pest_steps += 1
                self.say(f"pest-loop: incident {incident_id[:8]} → {step}")
            else:
                self.tally.pest_steps_refused += 1
                self.say(f"pest-loop: step {step} refused {out.status}: {str(out.body)[:200]}")
                return

    def _chain_for(self, village: str | None) -> list[str]:
        """Who may act on an incident of this village, lowest first."""
        out: list[str] = []
        if village is not None:
            for unit in self.org.ancestors(village):
                for role in (Role.VILLAGE_CHIEF, Role.TOWNSHIP_CHIEF, Role.DISTRICT_CHIEF):
                    out += [p.id for p in self.org.people_in(unit.code, role)]
        out += [p.id for p in self.org.people.values() if p.role is Role.ADMIN]
        return out

    # ---- chiefs -------------------------------------------------------------------------------
    async def chiefs(self) -> None:
        """Watch the district's incidents; chiefs acknowledge some (after a while), not others."""
        while not self._stop.is_set():
            r = await self.api.call(
                "GET", f"{self.api.endpoints.incidents}/v1/incidents", self.watcher_id,
                params={"status": "reported"}, give_up_s=5,
            )
            if r.status == 200:
                for inc in _items(r.body):
                    iid = str(inc.get("id"))
                    if iid in self._seen_incidents:
                        continue
                    self._seen_incidents.add(iid)
                    self.say(f"incident {iid[:8]} {inc.get('type')} opened in "
                             f"{inc.get('village')} level {inc.get('escalation_level')}")
                    rng = random.Random(zlib.crc32(iid.encode()) ^ self.seed)
                    growing = inc.get("type") in ("fire", "smoke", "hotspot")
                    if rng.random() < (self.ack_prob * (0.5 if growing else 1.0)):
                        asyncio.create_task(self.ack_later(inc, rng.uniform(2, 25)))
            try:
                await asyncio.wait_for(self._stop.wait(), 2.0)
            except TimeoutError:
                pass

    async def ack_later(self, inc: dict[str, Any], delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        iid = str(inc["id"])
        for actor in self._chain_for(inc.get("village")):
            r = await self.api.call(
                "POST", f"{self.api.endpoints.incidents}/v1/incidents/{iid}/ack", actor, json={}
            )
            if r.status in (200, 201, 202):
                self.tally.acks += 1
                self.say(f"{actor} acknowledged incident {iid[:8]}")
                return
            if r.status == 409:
                return  # already acknowledged (or further along): nothing to do
        self.tally.acks_refused += 1

    # ---- the day ------------------------------------------------------------------------------
    async def run(self) -> None:
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(self.run_patrol(p)) for p in self.plan.patrols
        ]
        pest_ids = {pp.report.report_id for pp in self.plan.pests}
        tasks += [
            asyncio.create_task(self.send_report(r))
            for r in self.plan.reports
            if r.report_id not in pest_ids
        ]
        tasks += [asyncio.create_task(self.send_hotspots(h)) for h in self.plan.hotspots]
        tasks += [asyncio.create_task(self.run_pest(p)) for p in self.plan.pests]
        chiefs = asyncio.create_task(self.chiefs())
        progress = asyncio.create_task(self._progress())
        try:
            await asyncio.gather(*tasks)
        finally:
            self._stop.set()
            await chiefs
            progress.cancel()

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(15)
            t = self.tally
            self.say(f"progress: {t.patrols_started} patrols, {t.points_accepted} points, "
                     f"{len(t.accepted)} reports, {len(self._seen_incidents)} incidents seen")

    async def summarize(self, *, settle_s: float = 30.0, wall_start: float) -> Summary:
        """Every accepted report must have joined an incident: poll until it has or time is up."""
        sem = asyncio.Semaphore(16)
        incident_of: dict[str, str | None] = {}

        async def one(rid: str, person: str) -> None:
            async with sem:
                incident_of[rid] = await self.incident_of(rid, person, settle_s)

        await asyncio.gather(*(one(rid, p) for rid, p in self.tally.accepted.items()))
        lost_ids = [rid for rid, iid in incident_of.items() if iid is None]
        incidents = {iid for iid in incident_of.values() if iid}
        escalations, max_level = 0, 0
        by_type: Counter[str] = Counter()
        for iid in sorted(incidents):
            r = await self.api.call(
                "GET", f"{self.api.endpoints.incidents}/v1/incidents/{iid}", self.watcher_id,
                give_up_s=10,
            )
            if r.status != 200 or not isinstance(r.body, dict):
                continue
            by_type[str(r.body.get("type"))] += 1
            max_level = max(max_level, int(r.body.get("escalation_level") or 0))
            escalations += sum(
                1 for e in r.body.get("timeline", []) if "escalat" in str(e.get("event", ""))
            )
        notifications = await self.count_notifications()
        return Summary(
            reports_accepted=len(self.tally.accepted),
            incidents=len(incidents),
            escalations=escalations,
            max_level=max_level,
            notifications=notifications,
            lost=len(lost_ids),
            lost_ids=lost_ids,
            multi_incident=0,
            tally=self.tally,
            incidents_by_type=dict(by_type),
            wall_s=time.monotonic() - wall_start,
        )

    async def count_notifications(self) -> int | None:
        total, answered = 0, 0
        for person in sorted(self.org.people.values(), key=lambda p: p.id):
            if person.role in (Role.PUBLIC, Role.RANGER):
                continue
            r = await self.api.call(
                "GET", f"{self.api.endpoints.notify}/v1/inbox", person.id, give_up_s=5,
                params={"limit": 500},
            )
            if r.status == 200:
                answered += 1
                total += len(_items(r.body))
            elif r.status == 0:
                return None  # notify is not there
        return total if answered else None


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for key in ("items", "incidents", "notifications", "results", "data"):
            if isinstance(body.get(key), list):
                return [x for x in body[key] if isinstance(x, dict)]
    return []


def _report_ids(body: dict[str, Any]) -> list[str]:
    for key in ("report_ids", "reports"):
        value = body.get(key)
        if isinstance(value, list):
            return [str(v["id"] if isinstance(v, dict) else v) for v in value]
    return []


def _evidence_value(item: str, report: ReportPlan) -> Any:
    if item == "gps":
        return {"lat": report.lat, "lon": report.lon}
    if item == "subcompartment":
        return report.details.get("subcompartment", "1")
    if item.endswith("photo") or item == "photo":
        return f"https://photos.example/{report.report_id}/{item}.jpg"
    if item == "lab_result":
        return "positive: Bursaphelenchus xylophilus"
    return f"{item}: 模拟"

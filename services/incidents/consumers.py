"""Which topic and event type go to which use case in the incidents service; no logic here.

- `hulin.reports` (keyed by village): report.submitted, in batches per partition, so one
  village's reports are merged in order without locks.
- `hulin.patrol`: ranger positions (for the nearest ranger on patrol) and finished patrols.
"""

from __future__ import annotations

from services.incidents.settings import IncidentsSettings
from services.incidents.usecases import UseCases
from shared.kafka import ConsumerRunner
from shared.runtime import Runtime
from shared.topics import PATROL, REPORTS


def build_consumers(
    runtime: Runtime, uc: UseCases, settings: IncidentsSettings
) -> list[ConsumerRunner]:
    reports = ConsumerRunner(
        runtime.settings,
        name="reports",
        topics=[REPORTS],
        handlers={},
        batch_handlers={"report.submitted": uc.batches.on_reports},
        publisher=runtime.publisher,
        max_records=settings.report_fetch_max,
    )
    patrol = ConsumerRunner(
        runtime.settings,
        name="patrol",
        topics=[PATROL],
        handlers={
            "patrol.position_updated": uc.positions.on_position,
            "patrol.finished": uc.positions.on_patrol_finished,
        },
        publisher=runtime.publisher,
    )
    return [reports, patrol]

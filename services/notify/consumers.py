"""Which topic and event type go to which handler in the notify service."""

from __future__ import annotations

from shared.kafka import ConsumerRunner
from shared.runtime import Runtime


def build_consumers(runtime: Runtime) -> list[ConsumerRunner]:
    return []

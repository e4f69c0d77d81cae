"""Kafka topic names and the partition plan; the one place a topic is named.

Keys: track data by ranger id, reports by village code, incident events by incident id.
"""

from __future__ import annotations

from dataclasses import dataclass

PATROL_POINTS = "hulin.patrol.points"
PATROL = "hulin.patrol"
REPORTS = "hulin.reports"
INCIDENTS = "hulin.incidents"
NOTIFICATIONS = "hulin.notifications"
DEADLETTER = "hulin.deadletter"


@dataclass(frozen=True)
class TopicPlan:
    name: str
    partitions: int
    key: str
    owner: str
    purpose: str


TOPICS: tuple[TopicPlan, ...] = (
    TopicPlan(
        PATROL_POINTS,
        12,
        "ranger id",
        "patrol",
        "raw GPS batches from the app, stored by patrol's own consumer",
    ),
    TopicPlan(
        PATROL, 6, "ranger id", "patrol", "patrol started/finished/overdue and ranger positions"
    ),
    TopicPlan(
        REPORTS,
        6,
        "village code",
        "incidents",
        "accepted reports (app, public, satellite), placed in their village",
    ),
    TopicPlan(
        INCIDENTS,
        6,
        "incident id",
        "incidents",
        "incident opened/updated/escalated/acknowledged/status changed",
    ),
    TopicPlan(NOTIFICATIONS, 6, "incident id", "notify", "notifications created for people"),
    TopicPlan(
        DEADLETTER,
        3,
        "original key",
        "any",
        "messages a consumer could not handle after retries, with the error",
    ),
)

"""Prometheus metrics every Hulin service exposes on /metrics (HTTP, Kafka, handlers, lag).

Names follow Prometheus conventions: units in the name, `_total` on counters. Only the metric
objects live here; incrementing them is the plumbing's job, never the domain's.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

http_requests_total = Counter(
    "hulin_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
http_request_seconds = Histogram(
    "hulin_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
events_published_total = Counter(
    "hulin_events_published_total", "Events acknowledged by Kafka", ["service", "topic", "type"]
)
publish_seconds = Histogram(
    "hulin_publish_seconds",
    "Time until Kafka acknowledged a publish",
    ["service", "topic"],
    buckets=LATENCY_BUCKETS,
)
events_consumed_total = Counter(
    "hulin_events_consumed_total",
    "Events taken from Kafka, by outcome",
    ["service", "topic", "type", "outcome"],
)
handler_seconds = Histogram(
    "hulin_handler_seconds",
    "Consumer handler latency",
    ["service", "event"],
    buckets=LATENCY_BUCKETS,
)
deadletters_total = Counter(
    "hulin_deadletters_total", "Messages sent to the dead-letter topic", ["service", "topic"]
)
consumer_lag = Gauge(
    "hulin_consumer_lag_messages",
    "Messages behind the partition's end",
    ["service", "group", "topic", "partition"],
)
consumer_cycle_seconds = Histogram(
    "hulin_consumer_cycle_seconds",
    "One fetched batch of a consumer group, from fetch to committed offsets (a record waits for"
    " the cycle in hand, then its own)",
    ["service", "group"],
    buckets=LATENCY_BUCKETS,
)
handler_retries_total = Counter(
    "hulin_handler_retries_total",
    "Handler attempts that failed and were retried",
    ["service", "event", "transient"],
)
store_commands_total = Counter(
    "hulin_store_commands_total",
    "Database commands sent, by command, collection and outcome",
    ["service", "command", "collection", "outcome"],
)
store_command_seconds_total = Counter(
    "hulin_store_command_seconds_total",
    "Time spent waiting for database commands (the store's queue included)",
    ["service", "command", "collection"],
)

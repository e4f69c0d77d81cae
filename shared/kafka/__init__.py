"""Kafka plumbing: topic set-up, the publisher and the consumer runner (at-least-once)."""

from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import ConsumerRunner, Handler
from shared.kafka.publisher import Publisher

__all__ = ["ConsumerRunner", "Handler", "Publisher", "ensure_topics"]

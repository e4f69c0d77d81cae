"""A publisher that keeps what it was asked to send, in order; it can be told to fail, like a
broker that is down, so a use case's "store first, publish after" can be proved without Kafka."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.events.base import Event


class PublishFailed(ConnectionError):
    """What the fake raises while it is set to fail (a broker that is down)."""


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.keys: list[str] = []
        self.raw: list[tuple[str, bytes, bytes | None]] = []
        self.failing = False

    async def start(self, *, timeout_s: float = 60.0) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ping(self, timeout_s: float = 2.0) -> bool:
        return not self.failing

    async def publish(self, event: Event, *, key: str | None = None) -> None:
        await self.publish_many([event], key=key)

    async def publish_many(self, events: Sequence[Event], *, key: str | None = None) -> None:
        if self.failing:
            raise PublishFailed("broker unavailable (fake)")
        for event in events:
            self.events.append(event)
            self.keys.append(key or event.key)

    async def send_raw(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None,
        headers: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        if self.failing:
            raise PublishFailed("broker unavailable (fake)")
        self.raw.append((topic, value, key))

    def of_type(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]

    def types(self) -> list[str]:
        return [e.type for e in self.events]

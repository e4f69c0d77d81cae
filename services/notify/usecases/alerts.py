"""The stored alerts a person may watch: the latest of their scope, and the live stream's start
(its catch-up after Last-Event-ID, then what the hub fans out). Who may watch at all is the
route's check; which alerts are in one's scope is the alert's `scope_units`."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.channels.sse import AlertHub, Subscriber
from services.notify.domain.alerts import Alert
from services.notify.store import AlertSequence
from shared.errors import NotFound, RateLimited
from shared.org import OrgDirectory, Person


def district_of(org: OrgDirectory, person: Person) -> str:
    try:
        return org.ancestors(person.unit)[-1].code
    except KeyError:
        raise NotFound("unit not found") from None


async def latest(
    *, alerts: AlertSequence, org: OrgDirectory, person: Person, limit: int
) -> list[Alert]:
    """Newest first."""
    return await alerts.latest(district_of(org, person), person.unit, limit=limit)


@dataclass(frozen=True)
class Watch:
    subscriber: Subscriber  # what is stored from now on (hub.unsubscribe when done)
    backlog: list[Alert]  # what was stored after the client's last alert, in number order


async def watch(
    *,
    alerts: AlertSequence,
    hub: AlertHub,
    org: OrgDirectory,
    person: Person,
    after: int | None,
    limit: int,
    max_streams: int,
) -> Watch:
    """Subscribes first, then reads the backlog: an alert stored in between comes both ways
    (the stream drops the second by number), none is missed. One person holds at most
    `max_streams` streams: each costs the process a queue and a catch-up read."""
    if hub.streams_of(person.id) >= max_streams:
        raise RateLimited(
            f"at most {max_streams} live streams at once; close one first",
            retry_after_s=30.0,
            field="Authorization",
        )
    district = district_of(org, person)
    subscriber = await hub.subscribe(person.unit, person.id)
    backlog: list[Alert] = []
    if after is not None:
        try:
            backlog = await alerts.after(district, after, limit=limit, unit=person.unit)
        except BaseException:
            hub.unsubscribe(subscriber)
            raise
    return Watch(subscriber, backlog)

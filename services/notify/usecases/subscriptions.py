"""HQ's webhook subscriptions: subscribe, list and read those in one's scope, disable or enable,
rotate the secret, delete, and a subscription's delivery log. For hq and admin only; another
unit's subscription is answered as absent. The secret goes into the store and never comes back
out of here (except a minted one, handed to the caller once)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from services.notify.domain import webhooks
from services.notify.store import Deliveries, DeliveryLogPage, Subscriptions, Webhook
from shared.clock import Clock
from shared.cursors import BadCursor
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.events import REPORT_TYPES
from shared.org import OrgDirectory, Person, Role

WEBHOOK_ROLES = (Role.HQ, Role.ADMIN)


async def subscribe(
    *,
    subscriptions: Subscriptions,
    person: Person,
    url: str,
    secret: str,
    types: Sequence[str] | None,
    incident_types: Sequence[str] | None,
    min_level: int,
    clock: Clock,
    destinations: webhooks.Destinations | None = None,
) -> Webhook:
    """`destinations`: the non-public ones allowed (none by default)."""
    if person.role not in WEBHOOK_ROLES:
        raise Forbidden(
            f"webhook subscriptions are for hq, admin; you are {person.role.value}", field="role"
        )
    webhooks.check_destination(url, destinations or webhooks.Destinations())
    webhook = Webhook(
        rule=webhooks.Subscription(
            id=str(uuid.uuid4()),
            url=url,
            types=webhooks.check_types(types),
            min_level=min_level,
            unit=person.unit,
            incident_types=webhooks.check_incident_types(incident_types, REPORT_TYPES),
        ),
        secret=secret,
        active=True,
        created_by=person.id,
        created_at=clock.now(),
    )
    await subscriptions.add(webhook)
    return webhook


async def in_scope(
    *, subscriptions: Subscriptions, org: OrgDirectory, person: Person
) -> list[Webhook]:
    """Oldest first."""
    if person.role not in WEBHOOK_ROLES:
        raise Forbidden("webhook subscriptions are for hq, admin", field="role")
    return await subscriptions.in_units([u.code for u in org.descendants(person.unit)])


async def own(
    *, subscriptions: Subscriptions, org: OrgDirectory, person: Person, webhook_id: str
) -> Webhook:
    if person.role not in WEBHOOK_ROLES:
        raise NotFound("webhook not found")
    webhook = await subscriptions.get(webhook_id)
    if webhook is None or not org.in_subtree(person.unit, webhook.rule.unit):
        raise NotFound("webhook not found", field="webhook_id")
    return webhook


async def set_active(
    *,
    subscriptions: Subscriptions,
    org: OrgDirectory,
    person: Person,
    webhook_id: str,
    active: bool,
) -> Webhook:
    """A disabled subscription gets no new deliveries; its open ones are given up at their try."""
    await own(subscriptions=subscriptions, org=org, person=person, webhook_id=webhook_id)
    found = await subscriptions.update(webhook_id, active=active)
    if found is None:
        raise NotFound("webhook not found", field="webhook_id")
    return found


async def rotate_secret(
    *,
    subscriptions: Subscriptions,
    org: OrgDirectory,
    person: Person,
    webhook_id: str,
    secret: str | None,
) -> str:
    """Signs every later try with the new secret (the one given, or one minted here) and returns
    it: the caller shows a minted secret once."""
    await own(subscriptions=subscriptions, org=org, person=person, webhook_id=webhook_id)
    new = secret if secret is not None else secrets.token_urlsafe(32)
    if await subscriptions.update(webhook_id, secret=new) is None:
        raise NotFound("webhook not found", field="webhook_id")
    return new


async def delete(
    *, subscriptions: Subscriptions, org: OrgDirectory, person: Person, webhook_id: str
) -> None:
    """Its open deliveries are given up at their next try (the subscription is gone)."""
    await own(subscriptions=subscriptions, org=org, person=person, webhook_id=webhook_id)
    if not await subscriptions.remove(webhook_id):
        raise NotFound("webhook not found", field="webhook_id")


async def delivery_log(
    *,
    subscriptions: Subscriptions,
    deliveries: Deliveries,
    org: OrgDirectory,
    person: Person,
    webhook_id: str,
    limit: int,
    cursor: str | None,
) -> DeliveryLogPage:
    """A page of every delivery and every try, newest alert first."""
    await own(subscriptions=subscriptions, org=org, person=person, webhook_id=webhook_id)
    try:
        return await deliveries.log(webhook_id, limit=limit, cursor=cursor)
    except BadCursor as exc:
        raise InvalidInput("cursor is not one this log gave you", field="cursor") from exc

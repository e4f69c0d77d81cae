"""A person's inbox: a page of their notifications, and marking one read. Only ever one's own:
another person's notification is answered as absent."""

from __future__ import annotations

from services.notify.domain.notifications import Notification
from services.notify.store import Inbox, InboxPage
from shared.clock import Clock
from shared.cursors import BadCursor
from shared.errors import InvalidInput, NotFound
from shared.org import Person


async def page(
    *, inbox: Inbox, person: Person, unread: bool, limit: int, cursor: str | None
) -> InboxPage:
    """Newest first; a notification stored while one reads on never shifts the pages handed out."""
    try:
        return await inbox.page(person.id, unread=unread, limit=limit, cursor=cursor)
    except BadCursor as exc:
        raise InvalidInput("cursor is not one this inbox gave you", field="cursor") from exc


async def mark_read(
    *, inbox: Inbox, person: Person, notification_id: str, clock: Clock
) -> Notification:
    """Read now, or when first read; asked again, the same answer."""
    read = await inbox.mark_read(notification_id, person.id, clock.now())
    if read is None:
        raise NotFound("notification not found in your inbox", field="notification_id")
    return read

"""Webhook subscriptions for HQ (森防指): which events a subscription wants, the signed body it
receives, the checks on a new subscription, and which destinations may be sent to at all (none
inside the network unless allowed: a webhook must not be a way to probe it).

Pure: HMAC over bytes and plain rules; sending and storing happen in channels/webhook.py. The secret
is an input here and never part of any value this module returns except the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from shared.errors import InvalidInput

# The events a subscription may ask for (the `X-Hulin-Event` header of a delivery).
WEBHOOK_EVENT_TYPES: tuple[str, ...] = (
    "incident.opened",
    "incident.escalated",
    "incident.updated",
    "incident.acknowledged",
    "incident.status_changed",
    "patrol.overdue",
)
MAX_LEVEL = 3
SIGNATURE_PREFIX = "sha256="
TIMESTAMPED_PREFIX = "v1="
REPLAY_WINDOW_S = 300.0  # what a receiver should accept between the timestamp and its clock


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Names that only mean something inside a network (besides any name without a dot).
INTERNAL_SUFFIXES = (".local", ".localhost", ".internal", ".svc", ".cluster.local", ".lan")
LOOPBACK: tuple[str, ...] = ("127.0.0.0/8", "::1", "localhost")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Destinations:
    """Non-public destinations allowed anyway (the allow-list setting): host names, exact, and
    addresses or networks. Every other destination must be a public name and address."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> Destinations:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


def is_public(address: IPAddress) -> bool:
    """Reachable on the public internet: not loopback, private, link-local, shared (CGNAT),
    multicast, unspecified or reserved, nor such an address mapped or embedded in IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
        if address.teredo is not None or address in NAT64:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_allowed(address: IPAddress, allow: Destinations) -> bool:
    return is_public(address) or allow.allows_address(address)


def name_allowed(host: str, allow: Destinations) -> bool:
    """A public DNS name: with a dot, not an internal suffix, not a number in disguise (such as
    `2130706433` or `0x7f.1`, which resolvers read as addresses)."""
    if allow.allows_name(host):
        return True
    name = host.lower().rstrip(".")
    if "." not in name or name == "localhost" or name.endswith(INTERNAL_SUFFIXES):
        return False
    return not all(label.isdigit() or label.startswith("0x") for label in name.split("."))


def host_allowed(host: str, allow: Destinations) -> bool:
    """The check at subscribe time, before any resolution (the send checks what it resolves)."""
    address = literal_address(host)
    if address is not None:
        return address_allowed(address, allow)
    return name_allowed(host, allow)


def check_destination(url: str, allow: Destinations) -> None:
    host = urlsplit(url).hostname or ""
    if not host_allowed(host, allow):
        raise InvalidInput(
            "url must be a public destination (not loopback, private, link-local or internal)",
            field="url",
        )


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    types: tuple[str, ...] | None  # None: every webhook event type
    min_level: int
    unit: str  # the owner's unit: events outside its subtree are not sent
    incident_types: tuple[str, ...] | None = None


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; anything else is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url must be an http:// or https:// URL", field="url")
    if not parts.hostname:
        raise InvalidInput("url has no host", field="url")
    return url.strip()


def check_types(types: Sequence[str] | None) -> tuple[str, ...] | None:
    """Unknown event types are refused, naming the first one and the known ones."""
    if types is None:
        return None
    for i, t in enumerate(types):
        if t not in WEBHOOK_EVENT_TYPES:
            known = ", ".join(WEBHOOK_EVENT_TYPES)
            raise InvalidInput(f"unknown event type {t!r}; known: {known}", field=f"types[{i}]")
    if not types:
        raise InvalidInput("types, when given, must name at least one event type", field="types")
    return tuple(dict.fromkeys(types))


def check_incident_types(
    types: Sequence[str] | None, known: Sequence[str]
) -> tuple[str, ...] | None:
    if types is None:
        return None
    for i, t in enumerate(types):
        if t not in known:
            raise InvalidInput(
                f"unknown incident type {t!r}; known: {', '.join(known)}",
                field=f"incident_types[{i}]",
            )
    return tuple(dict.fromkeys(types))


def wants(
    sub: Subscription,
    *,
    event_type: str,
    level: int,
    incident_type: str,
    in_scope: bool,
) -> bool:
    """Does this subscription receive this event?"""
    if not in_scope:
        return False
    if sub.types is not None and event_type not in sub.types:
        return False
    if sub.incident_types is not None and incident_type not in sub.incident_types:
        return False
    return level >= sub.min_level


def delivery_body(
    *,
    delivery_id: str,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    alert: Mapping[str, Any],
    message: Mapping[str, str],
) -> bytes:
    """The exact bytes sent on every try (so the signature never changes between tries)."""
    doc = {
        "delivery_id": delivery_id,
        "event_id": event_id,
        "event": event_type,
        "occurred_at": occurred_at.isoformat(),
        "alert": dict(alert),
        "message": dict(message),
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>` (the `X-Hulin-Signature` header)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: constant-time comparison of the signature header."""
    return hmac.compare_digest(sign(secret, body), header)


def sign_timestamped(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` (the `X-Hulin-Signature-256` header):
    the timestamp is signed with the body, so a captured delivery cannot be replayed later."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return TIMESTAMPED_PREFIX + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify_timestamped(
    secret: str,
    body: bytes,
    *,
    timestamp: str,
    header: str,
    now: float,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """What a receiver does with the timestamped scheme: the timestamp within `window_s` of its
    own clock, and a constant-time comparison of the signature."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > window_s:
        return False
    return hmac.compare_digest(sign_timestamped(secret, ts, body), header)

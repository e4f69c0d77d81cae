"""Which webhook destinations may be reached: refused before any connection (no test here sends
a request anywhere but loopback, and the refused ones are only inputs to the guard)."""

from __future__ import annotations

import pytest

from services.notify.channels.webhook import REFUSED, HttpSender
from services.notify.domain.webhooks import Destinations, check_destination, host_allowed
from services.notify.settings import NotifySettings
from shared.errors import InvalidInput

NONE = Destinations()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "localhost",
        "metadata",
        "kafka.hulin.svc",
        "api.hulin.svc.cluster.local",
        "printer.local",
        "2130706433",
        "0x7f.1",
    ],
)
def test_non_public_destinations_are_refused_without_an_allow_list(host: str) -> None:
    assert not host_allowed(host, NONE)
    with pytest.raises(InvalidInput) as err:
        check_destination(f"http://{'[' + host + ']' if ':' in host else host}/hook", NONE)
    assert err.value.field == "url"


@pytest.mark.parametrize("host", ["hq.example.cn", "8.8.8.8", "2001:4860:4860::8888"])
def test_public_destinations_are_accepted(host: str) -> None:
    assert host_allowed(host, NONE)


def test_the_allow_list_admits_named_hosts_and_networks_only() -> None:
    allow = Destinations.parse(["10.1.0.0/16", "hooks.svc"])
    assert host_allowed("10.1.2.3", allow) and host_allowed("hooks.svc", allow)
    assert not host_allowed("10.2.0.1", allow) and not host_allowed("other.svc", allow)


def test_loopback_is_allowed_by_default_in_test_but_never_in_prod() -> None:
    assert host_allowed("127.0.0.1", NotifySettings(env="test").webhook_destinations())
    prod = NotifySettings(env="prod", jwt_secret="x" * 40, cors_origin_regex="^https://a$")
    assert not host_allowed("127.0.0.1", prod.webhook_destinations())
    assert not host_allowed("localhost", prod.webhook_destinations())


async def test_a_name_resolving_to_a_private_address_is_refused_without_connecting() -> None:
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["10.0.0.7"]

    sender = HttpSender(timeout_s=1.0, resolver=rebinding)
    try:
        sent = await sender.send(
            url="http://hq.example.cn/hook",
            secret="s",
            body=b"{}",
            delivery_id="d",
            event_type="incident.opened",
            attempt=1,
        )
    finally:
        await sender.close()
    assert asked == ["hq.example.cn"]
    assert (sent.ok, sent.error, sent.permanent, sent.status_code) == (False, REFUSED, True, None)


async def test_a_literal_private_address_is_refused_at_send_time() -> None:
    sender = HttpSender(timeout_s=1.0)
    try:
        sent = await sender.send(
            url="http://169.254.169.254/latest",
            secret="s",
            body=b"{}",
            delivery_id="d",
            event_type="incident.opened",
            attempt=1,
        )
    finally:
        await sender.close()
    assert (sent.error, sent.permanent) == (REFUSED, True)

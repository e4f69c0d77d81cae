"""A runnable receiver of Hulin's webhooks, standard library only: verifies
`X-Hulin-Signature-256` over `X-Hulin-Timestamp` + "." + body in constant time, refuses a
timestamp outside the replay window, and drops a delivery id it has already accepted.

    HULIN_WEBHOOK_SECRET=... python examples/webhook_receiver.py 8080
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer

REPLAY_WINDOW_S = 300  # accept a timestamp at most this far from our clock
SEEN_MAX = 100_000  # delivery ids remembered (longer than the sender retries within the window)


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> bool:
    """True when the delivery is signed with `secret` and its timestamp is fresh."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lower.get("x-hulin-timestamp", ""), lower.get("x-hulin-signature-256")
    if not timestamp.isdigit() or signature is None:
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return hmac.compare_digest("v1=" + mac.hexdigest(), signature)


class Seen:
    """Delivery ids already accepted: a retry of one is answered 200 and not acted on again."""

    def __init__(self, limit: int = SEEN_MAX) -> None:
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.limit = limit

    def first_time(self, delivery_id: str) -> bool:
        if delivery_id in self.ids:
            return False
        self.ids[delivery_id] = None
        if len(self.ids) > self.limit:
            self.ids.popitem(last=False)
        return True


def handler(secret: str, seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not verify(secret, dict(self.headers.items()), body):
                self.send_response(401)
            else:
                if seen.first_time(self.headers.get("X-Hulin-Delivery", "")):
                    print(self.headers.get("X-Hulin-Event"), body.decode("utf-8"), flush=True)
                self.send_response(204)
            self.end_headers()

    return Handler


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = HTTPServer(("127.0.0.1", port), handler(os.environ["HULIN_WEBHOOK_SECRET"], Seen()))
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Ways an alert leaves the service: the live stream (sse.py) and HQ's webhooks (webhook.py);
SMS, WeCom or DingTalk later as one more module each. Never stores anything."""

from services.notify.channels.base import Dispatch

__all__ = ["Dispatch"]

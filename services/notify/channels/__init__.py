"""Ways a notification reaches people: each channel is one module behind the `Channel` interface
(base.py). SSE, inbox and webhook now; SMS, WeCom or DingTalk later as one more module each."""

from services.notify.channels.base import Channel, Dispatch

__all__ = ["Channel", "Dispatch"]

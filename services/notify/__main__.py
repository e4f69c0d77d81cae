"""Runs the notify service under uvicorn: `python -m services.notify`."""

from __future__ import annotations

import uvicorn

from services.notify.settings import NotifySettings


def main() -> None:
    settings = NotifySettings()
    uvicorn.run(
        "services.notify.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()

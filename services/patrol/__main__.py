"""Runs the patrol service under uvicorn: `python -m services.patrol`."""

from __future__ import annotations

import uvicorn

from services.patrol.settings import PatrolSettings


def main() -> None:
    settings = PatrolSettings()
    uvicorn.run(
        "services.patrol.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()

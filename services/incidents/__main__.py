"""Runs the incidents service under uvicorn: `python -m services.incidents`."""

from __future__ import annotations

import uvicorn

from services.incidents.settings import IncidentsSettings


def main() -> None:
    settings = IncidentsSettings()
    uvicorn.run(
        "services.incidents.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()

"""Runs the notify service under uvicorn: `python -m services.notify`."""

from __future__ import annotations

from services.notify.app import create_app
from services.notify.settings import NotifySettings
from shared.serve import run_service, settings_or_exit


def main() -> None:
    settings = settings_or_exit(NotifySettings)
    run_service(lambda: create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()

"""Runs the patrol service under uvicorn: `python -m services.patrol`."""

from __future__ import annotations

from services.patrol.app import create_app
from services.patrol.settings import PatrolSettings
from shared.serve import run_service, settings_or_exit


def main() -> None:
    settings = settings_or_exit(PatrolSettings)
    run_service(lambda: create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()

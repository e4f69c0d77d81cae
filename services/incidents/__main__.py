"""Runs the incidents service under uvicorn: `python -m services.incidents`."""

from __future__ import annotations

from services.incidents.app import create_app
from services.incidents.settings import IncidentsSettings
from shared.serve import run_service, settings_or_exit


def main() -> None:
    settings = settings_or_exit(IncidentsSettings)
    run_service(lambda: create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()

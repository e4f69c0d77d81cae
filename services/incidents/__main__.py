"""Runs the incidents service under uvicorn: `python -m services.incidents`."""

from __future__ import annotations

from services.incidents.app import create_app
from services.incidents.settings import IncidentsSettings
from shared.serve import run_service


def main() -> None:
    settings = IncidentsSettings()
    settings.check_bind(settings.host)
    run_service(lambda: create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()

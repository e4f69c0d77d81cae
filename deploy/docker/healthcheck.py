"""Docker HEALTHCHECK for a Hulin container: exit 0 when the service's GET /healthz answers 200.

Uses only the standard library because the runtime image has no curl or wget (fewer binaries, fewer
CVEs). One image runs any of the three services, so the port comes from, in order: the first
argument, HULIN_PORT, or whichever of the contract ports 8001-8003 answers (a container runs exactly
one service, so only its own port can answer).
"""

from __future__ import annotations

import os
import sys
import urllib.request

CONTRACT_PORTS = ("8001", "8002", "8003")


def healthy(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main(argv: list[str]) -> int:
    explicit = argv[1] if len(argv) > 1 else os.environ.get("HULIN_PORT")
    ports = (explicit,) if explicit else CONTRACT_PORTS
    return 0 if any(healthy(port) for port in ports) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

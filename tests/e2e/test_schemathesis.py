"""Bad input at scale: schemathesis generates requests from each service's own OpenAPI document
(valid and invalid bodies, parameters, paths) and checks that no answer is a 5xx and that every
documented answer matches its schema.

The services run as subprocesses (schemathesis calls them synchronously) against the real Kafka
and FerretDB, with their own topics and database; calls carry a valid token of a person who may
use the service (a ranger for patrol, the district chief for incidents, HQ for notify). Bounded:
a few examples per operation, so the whole file runs in about a minute or two.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bench.common import System
from shared.auth import issue_token
from shared.settings import Settings
from tests.support.infra import ensure_infra

MAX_EXAMPLES = 12
CALLER = {"patrol": "rg-500114001001-1", "incidents": "dc-500114", "notify": "hq-500114"}
SKIP = {"/v1/alerts/stream", "/console"}  # an endless stream; an HTML page


@pytest.fixture(scope="module")
def services() -> Iterator[System]:
    ensure_infra()
    system = System(extra_env={"HULIN_ENV": "test"})
    system.start_sync()
    try:
        yield system
    finally:
        system.stop()
        import asyncio
        import threading

        t = threading.Thread(target=lambda: asyncio.run(system.drop_database()))
        t.start()
        t.join(30)


def exercise(base_url: str, person: str) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {issue_token(person, Settings())}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue
        operations += 1

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=20)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except Exception as exc:  # one line per failing operation, all reported together
            failures.append(f"{operation.method.upper()} {operation.path}: "
                            f"{type(exc).__name__}: {str(exc)[:1500]}")
    return operations, failures


@pytest.mark.parametrize("service", ["patrol", "incidents", "notify"])
def test_no_5xx_and_responses_match_the_openapi_document(services: System, service: str) -> None:
    base = services.url(service)
    doc = httpx.get(f"{base}/openapi.json", timeout=10).json()
    assert doc["paths"], "the service documents no paths"
    operations, failures = exercise(base, CALLER[service])
    print(f"{service}: {operations} operations × ≤{MAX_EXAMPLES} examples, "
          f"{len(failures)} failing")
    assert not failures, "\n\n".join(failures)

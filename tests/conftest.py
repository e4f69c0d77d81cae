"""Fixtures shared by every test folder: real infrastructure for integration and e2e tests, and a
fresh topic prefix and database per test so tests never see each other's messages or documents."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shared.auth import issue_token
from shared.db import drop_databases
from shared.kafka.admin import delete_topics_with_prefix
from shared.settings import Settings
from tests.support.infra import ensure_infra, unique_name

# The services default to prod; the suite runs what it starts in development mode (test isolation
# asks for env=test per test), also when pytest is run without make.
os.environ.setdefault("HULIN_ENV", "dev")
# Notify refuses prod without a webhook secret key; settings built for prod in a test get this one
# (public, for the suite only). Services the suite starts in dev and test seal under it too.
os.environ.setdefault("HULIN_WEBHOOK_SECRET_KEY", "AqNg+zo4aMYu02naEVzMd7MSgH9a5F90R+OOXOK/8fM=")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/integration/" in path:
            item.add_marker(pytest.mark.integration)
        if "/e2e/" in path:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def infra() -> None:
    ensure_infra()


@pytest.fixture
def isolation() -> dict[str, str]:
    """Environment-style overrides giving one test its own topics and database."""
    name = unique_name()
    return {"topic_prefix": f"{name}.", "mongo_db": f"hulin_{name}", "env": "test"}


@pytest.fixture
async def settings_for(
    infra: None, isolation: dict[str, str]
) -> AsyncIterator[Callable[..., Any]]:
    """`settings_for(SettingsClass, **overrides)` → settings bound to this test's topics and db.
    The test's databases and topics are deleted afterwards."""

    def make(cls: type[Settings] = Settings, **overrides: Any) -> Any:
        return cls(**{**isolation, **overrides})

    yield make
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient("mongodb://127.0.0.1:27017")
    try:
        await drop_databases(client, isolation["mongo_db"])
    finally:
        await client.close()
    # Each test's topics go too: thousands of left-over partitions exhaust the broker's files.
    await delete_topics_with_prefix(Settings().kafka_bootstrap, isolation["topic_prefix"])


@pytest.fixture
def token() -> Callable[[str], str]:
    """`token(person_id)` → an Authorization header value for that person (dev secret)."""
    settings = Settings()

    def make(person_id: str) -> str:
        return f"Bearer {issue_token(person_id, settings)}"

    return make

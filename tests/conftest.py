"""Shared fixtures: real binaries (prometheus, promtool, alertmanager, PostgreSQL) and free ports.

Tests that need a binary skip with the reason when it is missing, except under AII_REQUIRE_E2E=1 (as in CI),
where a missing binary is a failure. One throwaway PostgreSQL cluster serves the whole session; each test
that asks for `postgres_url` gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_ai_incident import names
from otel_ai_incident.demo import services
from otel_ai_incident.demo.postgres import MissingPostgres, PostgresServer
from otel_ai_incident.demo.services import free_port

__all__ = ["find_binary", "free_port"]


def missing(reason: object) -> None:
    """Skip for a missing binary, or fail under AII_REQUIRE_E2E=1."""
    if os.environ.get(names.ENV_REQUIRE_E2E) == "1":
        pytest.fail(f"{reason}; {names.ENV_REQUIRE_E2E}=1 makes this a failure")
    pytest.skip(str(reason))


def find_binary(name: str) -> str:
    """Path of a real binary, or skip (fail under AII_REQUIRE_E2E=1) when it is not installed."""
    try:
        return services.find_binary(name)
    except services.MissingBinary as error:
        missing(error)
        raise


def postgres_cluster() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of its own (initdb and the server on a free loopback port), removed afterwards;
    skipped, or failed under AII_REQUIRE_E2E=1, when PostgreSQL is not installed."""
    try:
        server = PostgresServer()
    except MissingPostgres as error:
        missing(error)
        raise
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The cluster the session's tests share (each gets a database of its own through `postgres_url`)."""
    yield from postgres_cluster()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A cluster for one test alone, for tests that stop and restart its server (the session's is shared)."""
    yield from postgres_cluster()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's cluster; its postgresql:// URL."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty store on each backend: the contract suites run once per engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")

"""Shared fixtures: real binaries (prometheus, promtool, alertmanager) and free ports.

Tests that need a binary skip with the reason when it is missing, except under AII_REQUIRE_E2E=1 (as in CI),
where a missing binary is a failure.
"""

from __future__ import annotations

import os

import pytest

from otel_ai_incident import names
from otel_ai_incident.demo import services
from otel_ai_incident.demo.services import free_port

__all__ = ["find_binary", "free_port"]


def find_binary(name: str) -> str:
    """Path of a real binary, or skip (fail under AII_REQUIRE_E2E=1) when it is not installed."""
    try:
        return services.find_binary(name)
    except services.MissingBinary as missing:
        if os.environ.get(names.ENV_REQUIRE_E2E) == "1":
            pytest.fail(f"{missing}; {names.ENV_REQUIRE_E2E}=1 makes this a failure")
        pytest.skip(str(missing))


@pytest.fixture
def port() -> int:
    return free_port()

"""Every dashboard query, and every rule expression, runs without error on a real Prometheus with our rules.

The server has no targets, so results are empty: the point is that Prometheus parses and executes each
query (a typo in a function, a bad matcher or a range on an instant vector fails here). The end-to-end demo
test runs the same queries against live data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import find_binary
from otel_ai_incident import names
from otel_ai_incident.demo.services import Prometheus
from otel_ai_incident.generate import artefacts, dashboard
from otel_ai_incident.generate.links import Links
from otel_ai_incident.signals import PRODUCTION

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Prometheus]:
    find_binary("prometheus")
    with Prometheus() as server:
        server.start({}, rule_files=[REPO / artefacts.RULES])
        yield server


def _errors(prometheus: Prometheus, exprs: list[str]) -> dict[str, str]:
    errors = {}
    for expr in exprs:
        try:
            prometheus.query(expr)
        except RuntimeError as error:
            errors[expr] = str(error)
    return errors


@pytest.mark.parametrize("generation", names.ALL_GENERATIONS, ids=lambda g: g.key)
def test_every_panel_query_executes(prometheus: Prometheus, generation: names.Generation) -> None:
    queries = dashboard.panel_queries(artefacts.catalogue(None, PRODUCTION), Links(), generation)
    assert queries
    assert not _errors(prometheus, [dashboard.as_grafana_sends(q) for q in queries])


def test_every_rule_expression_executes_and_every_group_loads(prometheus: Prometheus) -> None:
    groups = yaml.safe_load((REPO / artefacts.RULES).read_text())["groups"]
    assert not _errors(prometheus, [rule["expr"] for group in groups for rule in group["rules"]])
    loaded = prometheus.api("rules")["groups"]
    assert {g["name"] for g in loaded} == {g["name"] for g in groups}


def test_a_broken_query_is_reported(prometheus: Prometheus) -> None:
    """The checks above would pass vacuously if errors were not reported: prove they are."""
    assert _errors(prometheus, ["sum by (job) (rate(ai_turns_total))"])

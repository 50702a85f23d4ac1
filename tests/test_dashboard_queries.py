"""Every dashboard query, and every rule expression, runs without error on a real Prometheus with our rules.

The first server has no targets, so results are empty: the point is that Prometheus parses and executes each
query (a typo in a function, a bad matcher or a range on an instant vector fails here). The incident views
(alerts and containment at the top, and the annotations) then run against the example app, scraped by a
Prometheus evaluating the demo rules: a PII leak fires an alert, and a kill switch is applied and lifted.
The end-to-end demo test runs every query against live data too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import find_binary, free_port
from otel_ai_incident import names
from otel_ai_incident.containment.state import PlannedAction, SqliteContainmentState
from otel_ai_incident.demo.services import Prometheus
from otel_ai_incident.generate import artefacts, dashboard, incident_views
from otel_ai_incident.generate.links import Links
from otel_ai_incident.signals import DEMO, NAMESPACE_LABEL, PRODUCTION
from processes import ROOT, clean_env, post_turn, support_bot_server, wait_until

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
def test_every_panel_and_annotation_query_executes(prometheus: Prometheus, generation: names.Generation) -> None:
    signals = artefacts.catalogue(None, PRODUCTION)
    queries = dashboard.panel_queries(signals, Links(), generation) + dashboard.annotation_queries(signals)
    assert len(dashboard.annotation_queries(signals)) == 3
    assert not _errors(prometheus, [dashboard.as_grafana_sends(q) for q in queries])


def test_every_rule_expression_executes_and_every_group_loads(prometheus: Prometheus) -> None:
    groups = yaml.safe_load((REPO / artefacts.RULES).read_text())["groups"]
    assert not _errors(prometheus, [rule["expr"] for group in groups for rule in group["rules"]])
    loaded = prometheus.api("rules")["groups"]
    assert {g["name"] for g in loaded} == {g["name"] for g in groups}


def test_a_broken_query_is_reported(prometheus: Prometheus) -> None:
    """The checks above would pass vacuously if errors were not reported: prove they are."""
    assert _errors(prometheus, ["sum by (job) (rate(ai_turns_total))"])


JOB = "support-bot"
LEAK_ALERT = "PiiDetectionInOutput"  # what one PII leak in an answer fires
STEP = "1s"  # of the range queries, as Grafana's step ($__interval) would be for a short time range
COARSE_STEP_S = 10  # ... and for a longer one: the kill switch is applied and lifted within about one step


def _range(prometheus: Prometheus, expr: str, start: float, end: float, step: str = STEP) -> list[dict[str, Any]]:
    """The query as a Grafana panel or annotation sends it: a range query, one point per step."""
    query = dashboard.as_grafana_sends(expr, rate_interval="1m", interval=step)
    return prometheus.query_range(query, start, end, step)


def _events(series: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """An annotation query's events: (action, time) of each point, which must be 1."""
    assert all(value == "1" for s in series for _, value in s["values"])
    return [(s["metric"][names.ACTION], t) for s in series for t, _ in s["values"]]


def _by(series: list[dict[str, Any]], label: str) -> dict[str, list[str]]:
    return {s["metric"][label]: [value for _, value in s["values"]] for s in series}


@pytest.mark.e2e
def test_incident_views_show_an_alert_firing_and_containment_applied_then_lifted(tmp_path: Path) -> None:
    find_binary("prometheus")
    signals = artefacts.catalogue(None, DEMO)
    rules, foreign = tmp_path / "ai.rules.yml", tmp_path / "foreign.rules.yml"
    rules.write_text(artefacts.render_all(signals, DEMO)[artefacts.RULES])
    # Another team's alert, always firing: the incident views must leave it out.
    foreign.write_text(
        yaml.safe_dump({"groups": [{"name": "other", "rules": [{"alert": "Watchdog", "expr": "vector(1)"}]}]})
    )
    containment, metrics_port = tmp_path / "containment.db", free_port()
    state = SqliteContainmentState(containment)
    kill_switch = names.ContainmentActionName.KILL_SWITCH
    env = clean_env(
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(metrics_port),
        AII_CONTAINMENT=f"sqlite:///{containment}",
        AII_PROMPT_LOG="off",
        AII_PSEUDONYM_KEY="ab" * 32,
        PYTHONPATH=str(ROOT),
    )
    try:
        with support_bot_server(env, tmp_path / "uvicorn.log") as (_, url), Prometheus() as prometheus:
            prometheus.start({JOB: [f"127.0.0.1:{metrics_port}"]}, rule_files=[rules, foreign])
            start = time.time()
            wait_until(lambda: post_turn(url, "chat"), timeout=30)
            outputs = f'{names.PII_DETECTIONS.prometheus}{{job="{JOB}",stage="{names.Stage.OUTPUT}"}}'
            wait_until(lambda: prometheus.query(outputs), timeout=20)
            post_turn(url, "leak")
            firing = dashboard.as_grafana_sends(incident_views.alerts(signals, incident_views.FIRING))
            wait_until(lambda: prometheus.query(firing), timeout=30)

            in_force = f'{names.CONTAINMENT_ACTIVE.prometheus}{{job="{JOB}",action="{kill_switch}"}}'
            # Two coarse steps of history first: each step compares with the one before.
            time.sleep(max(0.0, start + 2 * COARSE_STEP_S - time.time()))
            state.apply(PlannedAction(kill_switch), actor="test", incident_id=None)
            assert post_turn(url, "chat")["contained_by"] == kill_switch
            wait_until(lambda: prometheus.query(f"{in_force} == 1"), timeout=20)
            time.sleep(2)  # in force for a few steps
            assert state.lift(kill_switch, None, actor="test", reason="contained long enough")
            wait_until(lambda: post_turn(url, "chat")["contained_by"] is None, timeout=10)
            wait_until(lambda: prometheus.query(f"{in_force} == 0"), timeout=20)
            time.sleep(COARSE_STEP_S + 1)  # a step of the range queries, coarse ones too, falls after the lift
            end = time.time()

            panels = {p.id: p.queries[0].expr for p in incident_views.incident_panels(signals)}
            alert_rows = _by(
                _range(prometheus, panels[incident_views.ALERTS_PANEL_ID], start, end), names.ALERT_LABEL_NAME
            )
            in_force_rows = _by(
                _range(prometheus, panels[incident_views.CONTAINMENT_PANEL_ID], start, end), names.ACTION
            )
            annotations = {a.name: a for a in incident_views.annotations(signals)}
            fired, applied, lifted = (
                _range(prometheus, annotations[name].expr, start, end)
                for name in ("AI alert firing", "Containment applied", "Containment lifted")
            )
            coarse = f"{COARSE_STEP_S}s"
            applied_coarse, lifted_coarse = (
                _events(_range(prometheus, annotations[name].expr, start, end, coarse))
                for name in ("Containment applied", "Containment lifted")
            )
    finally:
        state.close()

    # The alerts panel: ours only, pending (1) while its `for` runs, then firing (2).
    assert set(alert_rows) == {LEAK_ALERT}
    assert set(alert_rows[LEAK_ALERT]) == {"1", "2"}
    assert alert_rows[LEAK_ALERT].index("2") > alert_rows[LEAK_ALERT].index("1")
    # Containment in force: the kill switch went from 0 to 1 and back; every other action stayed at 0.
    assert set(in_force_rows[kill_switch]) == {"0", "1"}
    assert all(set(values) == {"0"} for action, values in in_force_rows.items() if action != kill_switch)
    assert set(in_force_rows) == set(names.ContainmentActionName)

    # The firing annotation: ours only, value 1 (what every Grafana version marks), with every label its
    # title, text and tags name (the test's scrape has no namespace label, so that one renders empty).
    annotation = annotations["AI alert firing"]
    assert {s["metric"][names.ALERT_LABEL_NAME] for s in fired} == {LEAK_ALERT}
    assert all(value == "1" for s in fired for _, value in s["values"])
    used = set(re.findall(r"{{(\w+)}}", annotation.title + annotation.text)) | set(annotation.tags)
    assert all(used - set(s["metric"]) <= {NAMESPACE_LABEL} for s in fired)
    # Applied and lifted: one event each, for the kill switch, lifted after it was applied; at a coarse step
    # too, where both may fall within one step.
    [(action, applied_at)], [(lifted_action, lifted_at)] = _events(applied), _events(lifted)
    assert action == lifted_action == kill_switch and lifted_at > applied_at
    [(action, applied_at)], [(lifted_action, lifted_at)] = applied_coarse, lifted_coarse
    assert action == lifted_action == kill_switch and lifted_at >= applied_at

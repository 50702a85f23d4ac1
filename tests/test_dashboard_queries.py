"""Every dashboard query, and every rule expression, runs without error on a real Prometheus with our rules.

The server has no targets, so results are empty: the point is that Prometheus parses and executes each
query (a typo in a function, a bad matcher or a range on an instant vector fails here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import find_binary, free_port
from otel_ai_incident.generate import artefacts, dashboard
from otel_ai_incident.generate.links import Links
from otel_ai_incident.signals import PRODUCTION

REPO = Path(__file__).resolve().parent.parent
# What Grafana would substitute for the dashboard's variables.
GRAFANA_VARIABLES = {
    dashboard.RATE_INTERVAL: "5m",
    f"${dashboard.JOB_VAR}": ".*",
    f"${dashboard.MODEL_VAR}": ".*",
}


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = find_binary("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    shutil.copy(REPO / artefacts.RULES, work / "rules.yml")
    config = {"global": {"evaluation_interval": "1s"}, "rule_files": [str(work / "rules.yml")]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("prometheus did not become ready")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return _get(url)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def _grafana(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def test_every_panel_query_executes(prometheus: str) -> None:
    queries = dashboard.panel_queries(artefacts.catalogue(None, PRODUCTION), Links())
    assert queries
    errors = {q: r.get("error") for q in queries if (r := _query(prometheus, _grafana(q)))["status"] != "success"}
    assert not errors


def test_every_rule_expression_executes_and_every_group_loads(prometheus: str) -> None:
    groups = yaml.safe_load((REPO / artefacts.RULES).read_text())["groups"]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    errors = {e: r.get("error") for e in exprs if (r := _query(prometheus, e))["status"] != "success"}
    assert not errors
    loaded = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in loaded} == {g["name"] for g in groups}


def test_a_broken_query_is_reported(prometheus: str) -> None:
    """The check above would pass vacuously if errors were not reported: prove they are."""
    assert _query(prometheus, "sum by (job) (rate(ai_turns_total))")["status"] == "error"

"""The generator: deterministic, committed files up to date, and every query names a series that exists."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from conftest import find_binary
from otel_ai_incident import names
from otel_ai_incident.cli import main
from otel_ai_incident.generate import artefacts, dashboard
from otel_ai_incident.generate.links import Links
from otel_ai_incident.signals import DEMO, PRODUCTION

REPO = Path(__file__).resolve().parent.parent
PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "increase",
    "or",
    "and",
    "unless",
    "offset",
    "bool",
    "on",
    "clamp_min",
    "abs",
    "count",
    "sum_over_time",
    "count_over_time",
    "histogram_quantile",
    "le",
}


def _production() -> dict[str, str]:
    return artefacts.render_all(artefacts.catalogue(None, PRODUCTION))


def _rules(text: str) -> list[dict]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """Series names an expression reads: identifiers left after removing strings, matchers, ranges, by()."""
    stripped = re.sub(r'"[^"]*"|\$\w+', "", expr)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|on)\s*\([^)]*\)", " ", stripped)
    words = {m.group(1) for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()", stripped)}
    return words - PROMQL_WORDS


def test_rerun_is_byte_identical() -> None:
    assert _production() == _production()


def test_committed_files_are_up_to_date() -> None:
    assert main(["generate", "--check", "--out", str(REPO)]) == 0


def test_check_names_each_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path)]) == 0
    assert main(["generate", "--check", "--out", str(tmp_path)]) == 0
    (tmp_path / artefacts.RUNBOOK).write_text("edited by hand\n")
    (tmp_path / artefacts.DASHBOARD).unlink()
    capsys.readouterr()
    assert main(["generate", "--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert artefacts.RUNBOOK in err and artefacts.DASHBOARD in err and artefacts.RULES not in err


def test_every_queried_series_is_emitted_or_recorded() -> None:
    files = _production()
    rules = _rules(files[artefacts.RULES])
    known = names.prometheus_series_names() | {r["record"] for r in rules if "record" in r} | {names.PROMETHEUS_ALERTS}
    signals = artefacts.catalogue(None, PRODUCTION)
    exprs = [r["expr"] for r in rules] + dashboard.panel_queries(signals, Links())
    exprs += dashboard.annotation_queries(signals)
    unknown = {name for expr in exprs for name in metric_names(expr)} - known
    assert not unknown
    # ...and the check itself sees the series (it would pass vacuously if it saw none).
    seen = {name for expr in exprs for name in metric_names(expr)}
    assert {names.TURNS.prometheus, names.CONTAINMENT_ACTIVE.prometheus, names.PROMETHEUS_ALERTS} <= seen


@pytest.mark.parametrize("generation", names.ALL_GENERATIONS, ids=lambda g: g.key)
def test_the_dashboard_queries_the_metric_names_of_its_generation(generation: names.Generation) -> None:
    signals = artefacts.catalogue(None, PRODUCTION)
    queried = {name for expr in dashboard.panel_queries(signals, Links(), generation) for name in metric_names(expr)}
    other = next(g for g in names.ALL_GENERATIONS if g is not generation)
    renamed = names.prometheus_series_names((other,)) - names.prometheus_series_names((generation,))
    recorded = {r["record"] for r in _rules(_production()[artefacts.RULES]) if "record" in r}
    assert not queried & renamed
    prometheus_own = {names.PROMETHEUS_ALERTS}  # the incident views read Prometheus' own alert series
    assert not queried - names.prometheus_series_names((generation,)) - recorded - prometheus_own
    assert generation.duration.prometheus + "_bucket" in queried


@pytest.mark.parametrize(
    ("flag", "opt_in", "duration"),
    [
        ([], "", names.OPERATION_DURATION),
        ([], "http,gen_ai_latest_experimental", names.INFERENCE_DURATION),
        ([], names.SEMCONV_OPT_IN_DUP, names.INFERENCE_DURATION),  # dual emission: the dashboard follows the latest
        (["--semconv", "latest"], "", names.INFERENCE_DURATION),
        (["--semconv", "default"], names.SEMCONV_OPT_IN_LATEST, names.OPERATION_DURATION),  # the flag wins
    ],
)
def test_generate_resolves_names_from_the_opt_in_or_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], opt_in: str, duration: names.MetricSpec
) -> None:
    monkeypatch.setenv(names.ENV_SEMCONV_STABILITY_OPT_IN, opt_in)
    assert main(["generate", *flag, "--out", str(tmp_path)]) == 0
    board = (tmp_path / artefacts.DASHBOARD).read_text()
    assert duration.prometheus + "_bucket" in board
    other = names.OPERATION_DURATION if duration is names.INFERENCE_DURATION else names.INFERENCE_DURATION
    assert other.prometheus not in board
    assert duration.prometheus in (tmp_path / "deploy/kubernetes/50-grafana-dashboard.yaml").read_text()


def test_alerts_carry_contract_labels_and_links_that_resolve() -> None:
    files = _production()
    runbook = files[artefacts.RUNBOOK]
    panel_ids = {p["id"] for p in json.loads(files[artefacts.DASHBOARD])["panels"]}
    alerts = [r for r in _rules(files[artefacts.RULES]) if "alert" in r]
    signals = {s.name: s for s in artefacts.catalogue(None, PRODUCTION)}
    assert {a["alert"] for a in alerts} == {n for s in signals.values() for n in s.alertnames}
    for alert in alerts:
        signal = signals[alert["labels"][names.ALERT_LABEL_SIGNAL]]
        assert alert["labels"] == {
            names.ALERT_LABEL_SIGNAL: signal.name,
            names.ALERT_LABEL_PRIORITY: signal.severity.value,
            names.ALERT_LABEL_SEVERITY: {"p1": "critical", "p2": "warning"}[signal.severity.value],
            names.ALERT_LABEL_INCIDENT_TYPE: signal.incident_type,
        }
        assert tuple(alert["annotations"]) == names.ALERT_ANNOTATIONS
        anchor = alert["annotations"]["runbook_url"].split("#")[1]
        assert f'<a id="{anchor}"></a>' in runbook
        assert int(alert["annotations"]["dashboard_url"].split("viewPanel=")[1]) in panel_ids


def test_dashboard_opens_with_alerts_and_containment_and_annotates_incidents() -> None:
    """The SDK's model reads the dashboard back; the first row is the two state timelines, and each annotation
    names its events only with labels its query's series carry."""
    model = json.loads(_production()[artefacts.DASHBOARD])
    board = Dashboard.from_json(model)
    assert len(board.panels or []) == len(model["panels"])
    first_row, alerts, in_force = model["panels"][:3]
    assert first_row["type"] == "row" and first_row["gridPos"]["y"] == 0
    assert [p["type"] for p in (alerts, in_force)] == ["state-timeline", "state-timeline"]
    assert (alerts["title"], in_force["title"]) == ("AI alerts", "Containment actions in force")
    assert {p["gridPos"]["y"] for p in (alerts, in_force)} == {1}
    assert {m["options"]["result"]["text"] for m in alerts["fieldConfig"]["defaults"]["mappings"]} == {
        "pending",
        "firing",
    }

    rules = _rules(_production()[artefacts.RULES])
    alert_labels = {names.ALERT_LABEL_NAME, *(label for r in rules if "alert" in r for label in r["labels"])}
    signals = artefacts.catalogue(None, PRODUCTION)
    targets = {label for s in signals for label in s.target_labels}
    alertnames = {r["alert"] for r in rules if "alert" in r}
    queries = board.annotations.list_val if board.annotations else []
    assert [q.expr for q in queries] == dashboard.annotation_queries(signals)
    firing, applied, lifted = model["annotations"]["list"]
    for annotation, labels in ((firing, alert_labels | targets), (applied, {names.ACTION}), (lifted, {names.ACTION})):
        used = set(re.findall(r"{{(\w+)}}", annotation["titleFormat"] + annotation["textFormat"]))
        assert used | set(annotation["tagKeys"].split(",")) <= labels, annotation["name"]
        assert annotation["datasource"]["uid"] == "${datasource}" and annotation["enable"]
    listed = re.search(r'alertname=~"([^"]+)"', firing["expr"])
    assert listed is not None and set(listed.group(1).split("|")) == alertnames


def test_link_bases_are_configurable(tmp_path: Path) -> None:
    assert (
        main(
            [
                "generate",
                "--out",
                str(tmp_path),
                "--runbook-url",
                "https://wiki.example/runbook",
                "--grafana-url",
                "https://grafana.example/",
            ]
        )
        == 0
    )
    rules = (tmp_path / artefacts.RULES).read_text()
    assert "runbook_url: https://wiki.example/runbook#pii_detection_in_output" in rules
    assert "dashboard_url: https://grafana.example/d/" in rules


def test_bad_signals_file_fails_with_its_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "mine.yml"
    bad.write_text("signals:\n  - name: refusal_rate_spike\n    spike: {window: soon}\n")
    assert main(["generate", "--signals", str(bad), "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert f"{bad}: signal 'refusal_rate_spike', field 'spike.window': 'soon' is not a duration" in error
    assert not (tmp_path / artefacts.RULES).exists()


def test_user_signal_gets_rules_tests_panel_and_runbook(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yml"
    mine.write_text("""signals:
  - name: tool_errors
    description: Tools failing
    detection_method: Tool error share > 4x baseline
    severity: p3
    incident_type: agentic_harm
    spike: {alertname: ToolErrors, numerator: 'ai_tool_calls_total{outcome="error"}',
            denominator: ai_tool_calls_total, multiple: 4, floor: 0.01, absolute_threshold: 0.3}
""")
    assert main(["generate", "--signals", str(mine), "--out", str(tmp_path)]) == 0
    assert "alert: ToolErrors" in (tmp_path / artefacts.RULES).read_text()
    assert "name: 'ToolErrors:" in (tmp_path / "alert_rules/ai_incident.rules.test.yml").read_text()
    assert '<a id="tool_errors"></a>' in (tmp_path / artefacts.RUNBOOK).read_text()


def test_demo_profile_is_short_and_passes_promtool(tmp_path: Path) -> None:
    promtool = find_binary("promtool")
    assert main(["generate", "--profile", "demo", "--out", str(tmp_path)]) == 0
    text = (tmp_path / artefacts.RULES).read_text()
    assert f"interval: {DEMO.rate_interval}" in text and "[5m:30s]" in text and "for: 5s" in text
    assert not list((tmp_path / "alert_rules").glob("*.test.yml"))  # demo rules are not committed nor tested
    result = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / artefacts.RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

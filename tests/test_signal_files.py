"""Signals files: the versioned spec, its published schema, good files that generate working rules, and bad
files refused with a message naming the file, the signal and the field (tests/fixtures/signals/)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from conftest import find_binary
from otel_ai_incident.generate import artefacts
from otel_ai_incident.signals import AnyIncrease, MonitoringSignal, SignalConfigError, Spike
from otel_ai_incident.signals.load import load_signals
from otel_ai_incident.signals.spec import AnyIncreaseSpec, SignalsFile, SignalSpec, SpikeSpec, json_schema

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "signals"
BAD = sorted((FIXTURES / "bad").glob("*.yml"))
GOOD = sorted((FIXTURES / "good").glob("*.yml")) + sorted((REPO / artefacts.EXAMPLES).glob("*/signals.yml"))
EXPECTED = "# error: "


def _expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(EXPECTED), f"{path} must start with '{EXPECTED}<message>'"
    return first.removeprefix(EXPECTED)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_file_is_refused_with_its_message(path: Path) -> None:
    with pytest.raises(SignalConfigError) as caught:
        load_signals(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {_expected(path)}")
    assert "'-'" not in message and "'?'" not in message


def test_every_bad_fixture_states_its_message() -> None:
    assert len(BAD) >= 20 and all(_expected(path) for path in BAD)


def test_a_missing_file_is_named_in_plain_words(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yml"
    with pytest.raises(SignalConfigError) as caught:
        load_signals(missing)
    assert str(caught.value) == f"{missing}: cannot read the file: No such file or directory"
    assert (caught.value.signal, caught.value.field_name) == (None, None)


@pytest.mark.parametrize("path", GOOD, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_good_file_loads_and_its_rules_pass_promtool(path: Path, tmp_path: Path) -> None:
    signals = load_signals(path)
    assert signals != load_signals()
    files = artefacts.render_all(signals)
    rules = tmp_path / "rules.yml"
    rules.write_text(files[artefacts.RULES])
    result = subprocess.run(
        [find_binary("promtool"), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_good_files_do_what_they_say() -> None:
    def load(name: str) -> dict[str, MonitoringSignal]:
        return {s.name: s for s in load_signals(FIXTURES / "good" / f"{name}.yml")}

    builtin = {s.name: s for s in load_signals()}
    refusal = load("override_without_version")["refusal_rate_spike"]
    assert refusal.spike and builtin["refusal_rate_spike"].spike
    assert dataclasses.replace(refusal.spike, multiple=3, for_=builtin["refusal_rate_spike"].spike.for_) == (
        builtin["refusal_rate_spike"].spike
    )
    added = load("added_any_increase")["tool_call_blocked"]
    assert added.dashboard_panel == 90 and added.any_increase and added.any_increase.by == ("gen_ai_tool_name",)
    removed = load("detection_removed_and_disabled")
    assert "anomalous_tool_usage" not in removed
    reports = removed["user_reports_harmful_content"]
    assert reports.spike is None and reports.any_increase == builtin["user_reports_harmful_content"].any_increase
    shares = load("histogram_share")
    assert shares["anomalous_tool_usage"].spike and shares["anomalous_tool_usage"].spike.numerator.above == 0.9
    assert shares["refusal_rate_spike"].spike and shares["refusal_rate_spike"].spike.confirm_window is None


@pytest.mark.parametrize(
    "spec, model",
    [(SpikeSpec, Spike), (AnyIncreaseSpec, AnyIncrease), (SignalSpec, MonitoringSignal)],
    ids=["spike", "any_increase", "signal"],
)
def test_the_spec_can_set_every_field_of_the_model(spec: type, model: type) -> None:
    written = {field.alias or name for name, field in spec.model_fields.items()} - {"enabled"}
    if model is MonitoringSignal:  # set for every signal at once, by the file's aggregate_by and severity_levels
        assert {"aggregate_by", "severity_levels"} <= set(SignalsFile.model_fields)
        written |= {"target_labels", "severity_level"}
    assert written == {"for" if f.name == "for_" else f.name for f in dataclasses.fields(model)}


def test_published_schema_is_the_specs() -> None:
    published = json.loads((REPO / artefacts.SCHEMA).read_text())
    assert published == json_schema()
    assert published["properties"]["version"] == {
        "const": 1,
        "default": 1,
        "description": "the format version; files of another version are refused",
        "title": "Version",
        "type": "integer",
    }
    assert published["required"] == ["signals"] and published["additionalProperties"] is False
    spike = published["$defs"]["SpikeSpec"]
    assert "for" in spike["properties"] and "for_" not in spike["properties"] and spike["additionalProperties"] is False
    assert "null" not in json.dumps(spike["properties"]["window"])  # only removable fields accept null
    assert {"type": "null"} in spike["properties"]["confirm_window"]["anyOf"]


def test_aggregate_by_and_severity_levels_reach_every_signal_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yml"
    path.write_text(
        "aggregate_by: [cluster, tenant]\nseverity_levels: {p2: critical}\nsignals:\n"
        "  - name: refusal_rate_spike\n    spike: {by: [namespace, gen_ai_request_model]}\n"
    )
    signals = {s.name: s for s in load_signals(path)}
    assert {s.target_labels for s in signals.values()} == {("cluster", "tenant", "namespace", "job")}
    refusal = signals["refusal_rate_spike"]
    assert refusal.spike and refusal.spike.by == ("gen_ai_request_model",)  # a target label in `by` is kept anyway
    assert refusal.alert_severity == "critical" and signals["pii_detection_in_output"].alert_severity == "critical"
    rules = artefacts.render_all(list(signals.values()))[artefacts.RULES]
    assert "sum by (cluster, tenant, namespace, job, gen_ai_request_model) (rate(ai_refusals_total[30m]))" in rules
    assert " by (job)" not in rules and "sum by (namespace, job)" not in rules


def test_builtins_keep_namespace_and_job_and_map_priorities() -> None:
    signals = load_signals()
    assert {s.target_labels for s in signals} == {("namespace", "job")}
    assert {(s.severity.value, s.alert_severity) for s in signals} == {("p1", "critical"), ("p2", "warning")}

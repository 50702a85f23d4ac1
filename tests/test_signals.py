"""The signal catalogue: the contract's built-ins, profiles, and YAML overrides (bad files: test_signal_files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_ai_incident import names
from otel_ai_incident.containment.playbooks import DEFAULT_PLAYBOOKS
from otel_ai_incident.generate.playbooks import playbook_for
from otel_ai_incident.signals import (
    BUILTIN_SIGNALS,
    DEMO,
    PRODUCTION,
    AlertSeverity,
    Duration,
    Selector,
)
from otel_ai_incident.signals.load import load_signals

# The contract's table of built-in signals: name -> (alertnames, severity, incident_type).
CONTRACT = {
    "safety_classifier_block_rate": (("SafetyClassifierBlockRate",), "p1", "jailbreak_wave"),
    "user_reports_harmful_content": (
        ("UserReportsHarmfulContent", "UserReportsHarmfulContentP1"),
        "p1",
        "safety_violation",
    ),
    "pii_detection_in_output": (("PiiDetectionInOutput",), "p1", "data_leakage"),
    "anomalous_tool_usage": (("AnomalousToolUsage",), "p2", "agentic_harm"),
    "refusal_rate_spike": (("RefusalRateSpike",), "p2", "jailbreak_wave"),
}


def test_builtins_match_the_contract_table() -> None:
    got = {s.name: (s.alertnames, s.severity.value, s.incident_type) for s in load_signals()}
    assert got == CONTRACT


def test_every_builtin_has_a_playbook_and_queries_only_emitted_series() -> None:
    emitted = names.prometheus_series_names()
    playbook_types = {p.incident_type for p in DEFAULT_PLAYBOOKS}
    for signal in BUILTIN_SIGNALS:
        assert signal.incident_type in playbook_types
        assert playbook_for(signal) is not None
        selectors = [signal.any_increase.selector] if signal.any_increase else []
        if signal.spike:
            selectors += [signal.spike.numerator, signal.spike.denominator]
        assert all(series in emitted for sel in selectors for series in sel.series_names())


def test_refusal_choice_is_documented() -> None:
    refusal = next(s for s in BUILTIN_SIGNALS if s.name == "refusal_rate_spike")
    assert "misconfiguration" in refusal.rationale and refusal.spike and refusal.spike.confirm_window


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("10m", 600), ("1h30m", 5400), ("7d", 604800)])
def test_duration_round_trips(text: str, seconds: int) -> None:
    assert Duration.parse(text).seconds == seconds
    assert str(Duration(seconds)) == text


def test_selector_parses_promql_matchers() -> None:
    sel = Selector.parse('ai_guardrail_decisions_total{stage="output", guardrail!="pii"}')
    assert sel.series() == 'ai_guardrail_decisions_total{stage="output",guardrail!="pii"}'
    assert [m.negated for m in sel.matchers] == [False, True]


def test_demo_profile_shrinks_every_window_and_keeps_thresholds() -> None:
    for signal in BUILTIN_SIGNALS:
        demo = DEMO.apply(signal)
        for detection in (demo.spike, demo.any_increase):
            if detection is not None:
                assert detection.window <= Duration(60) and detection.for_ <= Duration(5)
        if demo.spike and signal.spike:
            assert demo.spike.baseline_window == Duration(300)
            assert demo.spike.multiple == signal.spike.multiple
        assert PRODUCTION.apply(signal) == signal


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signals.yml"
    path.write_text(text)
    return path


def test_yaml_overrides_one_field_disables_and_adds(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
version: 1
signals:
  - name: refusal_rate_spike
    severity: p1
    spike: {multiple: 4, for: 2m}
  - name: anomalous_tool_usage
    enabled: false
  - name: input_block_rate
    description: Input guardrail blocks
    detection_method: Input blocks > 3x baseline
    severity: p3
    incident_type: jailbreak_wave
    spike:
      alertname: InputBlockRate
      numerator: 'ai_guardrail_decisions_total{stage="input",decision="block"}'
      denominator: ai_turns_total
      multiple: 3
      floor: 0.01
      absolute_threshold: 0.2
""",
    )
    signals = {s.name: s for s in load_signals(path)}
    refusal = signals["refusal_rate_spike"]
    assert refusal.severity is AlertSeverity.P1
    assert refusal.spike and refusal.spike.multiple == 4 and refusal.spike.for_ == Duration(120)
    assert refusal.spike.confirm_window == Duration(300)  # untouched fields stay
    assert "anomalous_tool_usage" not in signals
    added = signals["input_block_rate"]
    assert added.dashboard_panel == 60 and added.spike and added.spike.window == Duration(600)

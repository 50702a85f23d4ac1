"""The built-in signals: the one place to add a signal the project ships.

Each entry is the contract's table made executable: the generator turns it into recording and alerting
rules, promtool tests, a dashboard row and a runbook section, and the prompt-log evidence into the turns it
counts, so the numbers below (windows, multiples, floors, minimum traffic) live here and nowhere else.
Users add, override or disable signals in YAML (`load.load_signals`) without touching this file.
"""

from __future__ import annotations

from otel_ai_incident import names
from otel_ai_incident.names import IncidentType
from otel_ai_incident.signals.model import (
    AlertSeverity,
    AnyIncrease,
    Duration,
    Matcher,
    MonitoringSignal,
    Selector,
    Spike,
)


def _decisions(*decisions: names.Decision) -> tuple[Matcher, ...]:
    return tuple(Matcher(names.DECISION, d.value) for d in decisions)


_TURNS = Selector(names.TURNS.prometheus)
_MODEL = names.GEN_AI_REQUEST_MODEL.replace(".", "_")
_TOOL = names.GEN_AI_TOOL_NAME.replace(".", "_")
# The hooks flag a tool call as anomalous at 0.8 (DEFAULT_ANOMALY_THRESHOLD); it is also a bucket boundary.
_ANOMALY_SCORE_BOUNDARY = 0.8

BUILTIN_SIGNALS: tuple[MonitoringSignal, ...] = (
    MonitoringSignal(
        name="safety_classifier_block_rate",
        description="Spike in output classifier blocks: possible jailbreak wave",
        detection_method="Share of turns whose output a safety guardrail blocked > 5x its 7-day baseline over 10m",
        severity=AlertSeverity.P1,
        incident_type=IncidentType.JAILBREAK_WAVE.value,
        dashboard_panel=10,
        spike=Spike(
            alertname="SafetyClassifierBlockRate",
            numerator=Selector(
                names.GUARDRAIL_DECISIONS.prometheus,
                (
                    Matcher(names.STAGE, names.Stage.OUTPUT.value),
                    *_decisions(names.Decision.BLOCK),
                    Matcher(names.GUARDRAIL, names.GUARDRAIL_PII, negated=True),
                ),
            ),
            denominator=_TURNS,
            multiple=5,
            floor=0.005,
            absolute_threshold=0.1,
            window=Duration(600),
            min_denominator=20,
            min_events=5,
            for_=Duration(300),
            keep_firing_for=Duration(900),
        ),
        rationale="PII blocks are left out: pii_detection_in_output pages on them already.",
    ),
    MonitoringSignal(
        name="user_reports_harmful_content",
        description="Users flagging AI responses as harmful or inappropriate",
        detection_method="Harmful-content reports per turn > 2x the 7-day baseline over 1h; any P1 report pages",
        severity=AlertSeverity.P1,
        incident_type=IncidentType.SAFETY_VIOLATION.value,
        dashboard_panel=20,
        spike=Spike(
            alertname="UserReportsHarmfulContent",
            numerator=Selector(names.USER_REPORTS.prometheus, (Matcher(names.KIND, names.REPORT_KIND_HARMFUL),)),
            denominator=_TURNS,
            multiple=2,
            floor=0.001,
            absolute_threshold=0.02,
            window=Duration(3600),
            min_denominator=50,
            min_events=3,
            for_=Duration(600),
            keep_firing_for=Duration(1800),
        ),
        any_increase=AnyIncrease(
            alertname="UserReportsHarmfulContentP1",
            selector=Selector(
                names.USER_REPORTS.prometheus,
                (Matcher(names.KIND, names.REPORT_KIND_HARMFUL), Matcher(names.SEVERITY, names.Severity.P1.value)),
            ),
        ),
        rationale="Reports are divided by turns so that more traffic alone does not double them into a page.",
    ),
    MonitoringSignal(
        name="pii_detection_in_output",
        description="PII detected in model output: potential data leakage",
        detection_method="Any PII the output guardrail detected (redacted or not) within 5m",
        severity=AlertSeverity.P1,
        incident_type=IncidentType.DATA_LEAKAGE.value,
        dashboard_panel=30,
        any_increase=AnyIncrease(
            alertname="PiiDetectionInOutput",
            selector=Selector(names.PII_DETECTIONS.prometheus, (Matcher(names.STAGE, names.Stage.OUTPUT.value),)),
            by=(names.ENTITY_TYPE,),
        ),
    ),
    MonitoringSignal(
        name="anomalous_tool_usage",
        description="Tool being called with unusual argument patterns",
        detection_method="Share of a tool's calls scoring above 0.8 > 3x its 7-day baseline over 15m",
        severity=AlertSeverity.P2,
        incident_type=IncidentType.AGENTIC_HARM.value,
        dashboard_panel=40,
        spike=Spike(
            alertname="AnomalousToolUsage",
            numerator=Selector(names.TOOL_ANOMALY_SCORE.prometheus, above=_ANOMALY_SCORE_BOUNDARY),
            denominator=Selector(names.TOOL_ANOMALY_SCORE.prometheus + "_count"),
            multiple=3,
            floor=0.01,
            absolute_threshold=0.2,
            window=Duration(900),
            min_denominator=10,
            min_events=3,
            for_=Duration(300),
            keep_firing_for=Duration(900),
            by=(_TOOL,),
        ),
        rationale=(
            "The share of calls above a score boundary, per tool, is a ratio like the others, so it gets the same "
            "baseline, floor and minimum traffic; a quantile of the score would hide a burst of a few bad calls "
            "among many normal ones, and the hooks' own anomaly flag uses the same 0.8 boundary."
        ),
    ),
    MonitoringSignal(
        name="refusal_rate_spike",
        description="Model refusing more requests than usual: may indicate attack or misconfiguration",
        detection_method="Refusals per turn > 3x the 7-day baseline over both 30m and 5m",
        severity=AlertSeverity.P2,
        incident_type=IncidentType.JAILBREAK_WAVE.value,
        dashboard_panel=50,
        spike=Spike(
            alertname="RefusalRateSpike",
            numerator=Selector(names.REFUSALS.prometheus),
            denominator=_TURNS,
            multiple=3,
            floor=0.01,
            absolute_threshold=0.25,
            window=Duration(1800),
            confirm_window=Duration(300),
            min_denominator=30,
            min_events=10,
            for_=Duration(600),
            keep_firing_for=Duration(1800),
            by=(_MODEL,),
        ),
        rationale=(
            "Classified as jailbreak_wave, not misconfiguration: a refusal spike on one model while its guardrails "
            "are quiet most often means users are probing it, and jailbreak_wave is the incident type with a "
            "default playbook (rate-limit, tighten guardrail, roll back the prompt), so the receiver contains it "
            "at once. A bad prompt or model rollout is the first thing the runbook rules out, and rolling back "
            "the prompt is already one of the playbook's actions. The 5m confirm window and a `for` longer than "
            "it keep a single burst from paging."
        ),
    ),
)

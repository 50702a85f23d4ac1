"""The monitoring-signal catalogue: what an AI incident looks like in the contract's metrics.

One spec in, every artefact out: the generator turns each `MonitoringSignal` into recording and alerting
rules, promtool tests, a dashboard row and a runbook section, so the numbers below (windows, multiples,
floors, minimum traffic) live here and nowhere else. Users add or override signals in YAML
(`load_signals`); every signal, built-in or not, is checked against the series the hooks emit, so a typo
fails at generation time instead of producing a rule that silently never fires.

Two detections exist:
- `Spike`: a ratio (numerator rate / denominator rate over a short window) compared with a multiple of its
  baseline, the ratio of the means of both rates over 7 days. A floor keeps a zero baseline from turning
  the first event into a page, minimum traffic and minimum events keep one block among three turns at
  3 a.m. quiet, and an absolute threshold covers a service too young to have a baseline.
- `AnyIncrease`: any new event of a selector pages (PII in output, a P1 user report).

Profiles: `PRODUCTION` keeps the catalogue's values (the committed files). `DEMO` shrinks every window for an
end-to-end demo that runs for minutes with 1 s scrape and evaluation intervals: short window 1m (confirm
window 30s), baseline 5m sampled every 30s and trusted after 2m of history, `for` 5s, `keep_firing_for`
30s, at least 30 turns and 5 events per window. Its rules are written to `--out` and never committed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from otel_ai_incident import names
from otel_ai_incident.containment.playbooks import ContainmentPlaybook, playbooks_by_incident_type
from otel_ai_incident.names import IncidentType, MetricSpec

JOB_LABEL = "job"  # added by Prometheus' scrape config, never by the hooks
BUCKET_LABEL = "le"


class SignalConfigError(ValueError):
    """A signal definition that cannot become a working rule; the message names file, signal and field."""

    def __init__(self, source: str, signal: str, field_name: str, problem: str) -> None:
        self.source, self.signal, self.field_name = source, signal, field_name
        super().__init__(f"{source}: signal {signal!r}: field {field_name!r}: {problem}")


class AlertSeverity(StrEnum):
    """How fast someone must act; the value is the `severity` alert label the Alertmanager routes on."""

    P1 = names.Severity.P1.value  # immediate response required
    P2 = names.Severity.P2.value  # response within 1 hour
    P3 = names.Severity.P3.value  # response within 1 business day


_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True, order=True)
class Duration:
    """A whole number of seconds, written the Prometheus way ("1h30m") in rules and YAML."""

    seconds: int

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION_RE.match(str(text).strip())
        if not match or not any(match.groups()):
            raise ValueError(f"{text!r} is not a duration like 30s, 10m, 1h or 7d")
        return cls(sum(int(v) * unit for v, (_, unit) in zip(match.groups(), _DURATION_UNITS, strict=True) if v))

    def __str__(self) -> str:
        if self.seconds == 0:
            return "0s"
        parts, rest = [], self.seconds
        for suffix, unit in _DURATION_UNITS:
            count, rest = divmod(rest, unit)
            if count:
                parts.append(f"{count}{suffix}")
        return "".join(parts)


_MATCHER_RE = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(!=|=)\s*"([^"\\]*)"\s*$')
_SELECTOR_RE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")


@dataclass(frozen=True)
class Matcher:
    """An equality (`=`) or inequality (`!=`) label matcher; regexes are left out so tests can synthesise series."""

    label: str
    value: str
    negated: bool = False

    def promql(self) -> str:
        return f'{self.label}{"!=" if self.negated else "="}"{self.value}"'

    @classmethod
    def parse(cls, text: str) -> Matcher:
        match = _MATCHER_RE.match(text)
        if not match:
            raise ValueError(f'{text!r} is not a matcher like label="value" or label!="value"')
        return cls(match.group(1), match.group(3), match.group(2) == "!=")


def _series_spec(series: str) -> MetricSpec | None:
    """The contract metric a Prometheus series name belongs to (histogram suffixes included)."""
    for spec in names.METRICS:
        if series == spec.prometheus or series.startswith(spec.prometheus + "_"):
            return spec
    return None


@dataclass(frozen=True)
class Selector:
    """Which contract series a signal counts: a metric and its matchers.

    With `above`, `metric` is a histogram's name and the selector counts the observations above that
    bucket boundary (`_count` minus `_bucket{le="above"}`).
    """

    metric: str
    matchers: tuple[Matcher, ...] = ()
    above: float | None = None

    @classmethod
    def parse(cls, text: str, above: float | None = None) -> Selector:
        match = _SELECTOR_RE.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a selector like metric{{label=\"value\"}}")
        body = (match.group(2) or "").strip()
        matchers = tuple(Matcher.parse(part) for part in body.split(",") if part.strip()) if body else ()
        return cls(match.group(1), matchers, above)

    def series(self, extra: Iterable[Matcher] = ()) -> str:
        """PromQL for the selected series (the plain metric; see `series_names` for histograms)."""
        matchers = ",".join(m.promql() for m in (*self.matchers, *extra))
        return f"{self.metric}{{{matchers}}}" if matchers else self.metric

    def series_names(self) -> tuple[str, ...]:
        if self.above is None:
            return (self.metric,)
        return (self.metric + "_count", self.metric + "_bucket")

    @property
    def spec(self) -> MetricSpec | None:
        return _series_spec(self.metric)

    @property
    def labels(self) -> frozenset[str]:
        """Labels the selected series carry (Prometheus adds `job`), for checking matchers and `by`."""
        spec = self.spec
        return frozenset((*spec.labels, JOB_LABEL)) if spec else frozenset({JOB_LABEL})

    def __str__(self) -> str:
        return self.series() + (f" above {self.above:g}" if self.above is not None else "")


@dataclass(frozen=True)
class Spike:
    """Ratio over `window` (and `confirm_window`, when set) above `multiple` x max(baseline, `floor`).

    The baseline is sum(numerator rate) / sum(denominator rate) over `baseline_window`, sampled every
    `baseline_step`, trusted after `baseline_min_history`; before that, `absolute_threshold` applies.
    """

    alertname: str
    numerator: Selector
    denominator: Selector
    multiple: float
    floor: float
    absolute_threshold: float
    window: Duration = Duration(600)
    confirm_window: Duration | None = None
    baseline_window: Duration = Duration(7 * 86400)
    baseline_step: Duration = Duration(3600)
    baseline_min_history: Duration = Duration(86400)
    min_denominator: float = 20
    min_events: float = 5
    for_: Duration = Duration(300)
    keep_firing_for: Duration = Duration(900)
    by: tuple[str, ...] = ()

    @property
    def windows(self) -> tuple[Duration, ...]:
        return (self.window,) if self.confirm_window is None else (self.window, self.confirm_window)

    @property
    def threshold_ratio(self) -> float:
        """The threshold a zero baseline gets: `multiple` x `floor`."""
        return self.multiple * self.floor


@dataclass(frozen=True)
class AnyIncrease:
    """Any event of `selector` within `window` fires, including the first one of a series that is new."""

    alertname: str
    selector: Selector
    window: Duration = Duration(300)
    for_: Duration = Duration(0)
    keep_firing_for: Duration = Duration(900)
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitoringSignal:
    """One row of the catalogue: what to watch, how it is detected, how bad it is and how to contain it."""

    name: str
    description: str
    detection_method: str
    severity: AlertSeverity
    incident_type: str
    dashboard_panel: int
    spike: Spike | None = None
    any_increase: AnyIncrease | None = None
    rationale: str = ""

    @property
    def metric_name(self) -> str:
        """The series the signal is about (the design text's field): the spike's numerator, else the selector."""
        if self.spike is not None:
            return self.spike.numerator.metric
        assert self.any_increase is not None
        return self.any_increase.selector.metric

    @property
    def runbook_anchor(self) -> str:
        return self.name

    @property
    def alertnames(self) -> tuple[str, ...]:
        return tuple(d.alertname for d in (self.spike, self.any_increase) if d is not None)

    def playbook(self, playbooks: Mapping[str, ContainmentPlaybook] | None = None) -> ContainmentPlaybook | None:
        """The containment playbook for this incident type, or None: contain by hand, see the runbook."""
        return (playbooks or playbooks_by_incident_type()).get(self.incident_type)


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
                (Matcher(names.STAGE, names.Stage.OUTPUT.value), *_decisions(names.Decision.BLOCK),
                 Matcher(names.GUARDRAIL, names.GUARDRAIL_PII, negated=True)),
            ),
            denominator=_TURNS,
            multiple=5, floor=0.005, absolute_threshold=0.1,
            window=Duration(600), min_denominator=20, min_events=5,
            for_=Duration(300), keep_firing_for=Duration(900),
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
            multiple=2, floor=0.001, absolute_threshold=0.02,
            window=Duration(3600), min_denominator=50, min_events=3,
            for_=Duration(600), keep_firing_for=Duration(1800),
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
            multiple=3, floor=0.01, absolute_threshold=0.2,
            window=Duration(900), min_denominator=10, min_events=3,
            for_=Duration(300), keep_firing_for=Duration(900),
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
            multiple=3, floor=0.01, absolute_threshold=0.25,
            window=Duration(1800), confirm_window=Duration(300), min_denominator=30, min_events=10,
            for_=Duration(600), keep_firing_for=Duration(1800),
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
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """Timings applied to every signal; `None` keeps the catalogue's value."""

    name: str
    window: Duration | None = None
    confirm_window: Duration | None = None
    baseline_window: Duration | None = None
    baseline_step: Duration | None = None
    baseline_min_history: Duration | None = None
    for_: Duration | None = None
    keep_firing_for: Duration | None = None
    min_denominator: float | None = None
    min_events: float | None = None
    rate_interval: Duration = Duration(30)  # evaluation interval of the short-window group
    baseline_interval: Duration = Duration(300)  # evaluation interval of the baseline group

    def apply(self, signal: MonitoringSignal) -> MonitoringSignal:
        spike, any_increase = signal.spike, signal.any_increase
        if spike is not None:
            changes = {
                k: getattr(self, k)
                for k in ("window", "baseline_window", "baseline_step", "baseline_min_history", "for_",
                          "keep_firing_for", "min_denominator", "min_events")
                if getattr(self, k) is not None
            }  # fmt: skip
            if spike.confirm_window is not None and self.confirm_window is not None:
                changes["confirm_window"] = self.confirm_window
            spike = dataclasses.replace(spike, **changes)
        if any_increase is not None:
            kept = ("window", "for_", "keep_firing_for")
            changes = {k: getattr(self, k) for k in kept if getattr(self, k) is not None}
            any_increase = dataclasses.replace(any_increase, **changes)
        return dataclasses.replace(signal, spike=spike, any_increase=any_increase)


PRODUCTION = Profile("production")
DEMO = Profile(
    "demo",
    window=Duration(60), confirm_window=Duration(30), baseline_window=Duration(300), baseline_step=Duration(30),
    baseline_min_history=Duration(120), for_=Duration(5), keep_firing_for=Duration(30),
    min_denominator=30, min_events=5, rate_interval=Duration(1), baseline_interval=Duration(1),
)  # fmt: skip
PROFILES: dict[str, Profile] = {p.name: p for p in (PRODUCTION, DEMO)}


# ---- validation -------------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ALERTNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check_selector(selector: Selector, fail: Callable[[str], None]) -> None:
    known = names.prometheus_series_names()
    missing = [s for s in selector.series_names() if s not in known]
    if missing:
        fail(f"{', '.join(missing)} is not a series the hooks emit (known: {', '.join(sorted(known))})")
    spec = selector.spec
    assert spec is not None
    if selector.above is not None and selector.above not in (spec.buckets or ()):
        fail(f"above={selector.above:g} is not a bucket boundary of {spec.prometheus} ({spec.buckets})")
    for matcher in selector.matchers:
        if matcher.label not in selector.labels:
            fail(f"label {matcher.label!r} is not a label of {selector.metric} ({', '.join(sorted(selector.labels))})")


def _check_by(by: tuple[str, ...], selectors: Iterable[Selector], fail: Callable[[str], None]) -> None:
    for selector in selectors:
        for label in by:
            if label not in selector.labels:
                fail(f"cannot aggregate by {label!r}: {selector.metric} has no such label")


def validate(signal: MonitoringSignal, source: str) -> MonitoringSignal:
    """Raise SignalConfigError for anything that would make a broken or never-firing rule."""

    def fail_on(field_name: str) -> Callable[[str], None]:
        def fail(problem: str) -> None:
            raise SignalConfigError(source, signal.name, field_name, problem)

        return fail

    if not _NAME_RE.match(signal.name):
        fail_on("name")("use lower_snake_case")
    if signal.spike is None and signal.any_increase is None:
        fail_on("spike")("a signal needs a spike or an any_increase detection")
    if not _NAME_RE.match(signal.incident_type):
        fail_on("incident_type")("use lower_snake_case")
    for key, detection in (("spike", signal.spike), ("any_increase", signal.any_increase)):
        if detection is not None and not _ALERTNAME_RE.match(detection.alertname):
            fail_on(f"{key}.alertname")(f"{detection.alertname!r} is not a valid alert name")
    if signal.spike is not None:
        spike = signal.spike
        _check_selector(spike.numerator, fail_on("spike.numerator"))
        _check_selector(spike.denominator, fail_on("spike.denominator"))
        _check_by(spike.by, (spike.numerator, spike.denominator), fail_on("spike.by"))
        if spike.numerator.above is not None and spike.denominator.metric != spike.numerator.metric + "_count":
            fail_on("spike.denominator")(f"a share above a boundary is out of {spike.numerator.metric}_count")
        for key in ("multiple", "absolute_threshold"):
            if getattr(spike, key) <= 0:
                fail_on(f"spike.{key}")("must be > 0")
        for key in ("floor", "min_denominator", "min_events"):
            if getattr(spike, key) < 0:
                fail_on(f"spike.{key}")("must be >= 0")
        if spike.confirm_window is not None and spike.confirm_window >= spike.window:
            fail_on("spike.confirm_window")("must be shorter than window")
        if spike.baseline_step.seconds <= 0 or spike.baseline_window.seconds % spike.baseline_step.seconds:
            fail_on("spike.baseline_step")("must divide baseline_window")
    if signal.any_increase is not None:
        _check_selector(signal.any_increase.selector, fail_on("any_increase.selector"))
        if signal.any_increase.selector.above is not None:
            fail_on("any_increase.selector")("`above` is for spike numerators only")
        _check_by(signal.any_increase.by, (signal.any_increase.selector,), fail_on("any_increase.by"))
    return signal


# ---- YAML -------------------------------------------------------------------------------------------------


def _selector(value: Any) -> Selector:
    if isinstance(value, str):
        return Selector.parse(value)
    if isinstance(value, Mapping) and set(value) <= {"metric", "above"} and "metric" in value:
        above = value.get("above")
        return Selector.parse(str(value["metric"]), None if above is None else float(above))
    raise ValueError('expected a selector string or a mapping {metric: "...", above: 0.8}')


def _labels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of label names")
    return tuple(v for v in value if v != JOB_LABEL)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


def _optional_duration(value: Any) -> Duration | None:
    return None if value is None else Duration.parse(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


# YAML key -> (dataclass attribute, converter). `for` is a Python keyword, hence `for_`.
_SPIKE_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "alertname": ("alertname", _text), "numerator": ("numerator", _selector), "denominator": ("denominator", _selector),
    "multiple": ("multiple", _number), "floor": ("floor", _number),
    "absolute_threshold": ("absolute_threshold", _number), "window": ("window", Duration.parse),
    "confirm_window": ("confirm_window", _optional_duration),
    "baseline_window": ("baseline_window", Duration.parse), "baseline_step": ("baseline_step", Duration.parse),
    "baseline_min_history": ("baseline_min_history", Duration.parse),
    "min_denominator": ("min_denominator", _number), "min_events": ("min_events", _number),
    "for": ("for_", Duration.parse), "keep_firing_for": ("keep_firing_for", Duration.parse), "by": ("by", _labels),
}  # fmt: skip
_ANY_INCREASE_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "alertname": ("alertname", _text), "selector": ("selector", _selector), "window": ("window", Duration.parse),
    "for": ("for_", Duration.parse), "keep_firing_for": ("keep_firing_for", Duration.parse), "by": ("by", _labels),
}  # fmt: skip
_SIGNAL_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "description": ("description", _text), "detection_method": ("detection_method", _text),
    "severity": ("severity", AlertSeverity), "incident_type": ("incident_type", _text),
    "dashboard_panel": ("dashboard_panel", _int), "rationale": ("rationale", _text),
}  # fmt: skip
_NESTED: dict[str, tuple[type, dict[str, tuple[str, Callable[[Any], Any]]]]] = {
    "spike": (Spike, _SPIKE_FIELDS),
    "any_increase": (AnyIncrease, _ANY_INCREASE_FIELDS),
}


@dataclass
class _Reader:
    """Converts one YAML signal, merging it into the built-in of the same name when there is one."""

    source: str
    signal: str

    def fail(self, field_name: str, problem: str) -> SignalConfigError:
        return SignalConfigError(self.source, self.signal, field_name, problem)

    def convert(
        self, data: Any, fields: Mapping[str, tuple[str, Callable[[Any], Any]]], prefix: str = ""
    ) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(prefix.rstrip(".") or "signal", "expected a mapping")
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key not in fields:
                raise self.fail(f"{prefix}{key}", f"unknown field (known: {', '.join(sorted(fields))})")
            attribute, converter = fields[key]
            try:
                out[attribute] = converter(value)
            except ValueError as exc:
                raise self.fail(f"{prefix}{key}", str(exc)) from None
        return out

    def build(self, cls: type, values: dict[str, Any], base: Any, where: str) -> Any:
        if base is not None:
            return dataclasses.replace(base, **values)
        try:
            return cls(**values)
        except TypeError:
            required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
            missing = [name for name in required if name not in values]
            raise self.fail(where, f"missing required field(s): {', '.join(missing)}") from None


def _read_signal(data: Mapping[str, Any], base: MonitoringSignal | None, reader: _Reader) -> MonitoringSignal | None:
    top = dict(data)
    top.pop("name")
    if top.pop("enabled", True) is False:
        return None
    nested: dict[str, Any] = {}
    for key, (cls, fields) in _NESTED.items():
        if key in top:
            raw = top.pop(key)
            current = getattr(base, key) if base is not None else None
            if raw is None:
                nested[key] = None
            else:
                nested[key] = reader.build(cls, reader.convert(raw, fields, f"{key}."), current, key)
    values = {**reader.convert(top, _SIGNAL_FIELDS), **nested}
    if base is None:
        values.setdefault("dashboard_panel", 0)  # numbered after the built-ins by load_signals
        return reader.build(MonitoringSignal, {"name": reader.signal, **values}, None, "signal")
    return dataclasses.replace(base, **values)


def _next_panel(signals: Iterable[MonitoringSignal]) -> int:
    return max((s.dashboard_panel for s in signals), default=0) + 10


def load_signals(
    path: Path | str | None = None, base: Iterable[MonitoringSignal] = BUILTIN_SIGNALS
) -> list[MonitoringSignal]:
    """The catalogue: the built-ins, overridden, extended or disabled (`enabled: false`) by a YAML file.

    A YAML signal with a built-in's name changes only the fields it gives; a new name must give all
    required fields. Every error is a SignalConfigError naming the file, the signal and the field.
    """
    catalogue = {s.name: s for s in base}
    for signal in catalogue.values():
        validate(signal, "built-in catalogue")
    if path is None:
        return list(catalogue.values())
    source = str(path)
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SignalConfigError(source, "-", "-", f"cannot read YAML: {exc}") from None
    entries = document.get("signals") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise SignalConfigError(source, "-", "signals", "expected a top-level 'signals:' list")
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise SignalConfigError(source, "?", "name", "every signal needs a name")
        reader = _Reader(source, entry["name"])
        signal = _read_signal(entry, catalogue.get(reader.signal), reader)
        if signal is None:
            catalogue.pop(reader.signal, None)
            continue
        if signal.dashboard_panel == 0:
            signal = dataclasses.replace(signal, dashboard_panel=_next_panel(catalogue.values()))
        catalogue[signal.name] = validate(signal, source)
    _check_unique(list(catalogue.values()), source)
    return list(catalogue.values())


def _check_unique(signals: list[MonitoringSignal], source: str) -> None:
    seen_alerts: dict[str, str] = {}
    seen_panels: dict[int, str] = {}
    for signal in signals:
        for alertname in signal.alertnames:
            if alertname in seen_alerts:
                problem = f"{alertname} is used by {seen_alerts[alertname]}"
                raise SignalConfigError(source, signal.name, "alertname", problem)
            seen_alerts[alertname] = signal.name
        if signal.dashboard_panel in seen_panels:
            problem = f"{signal.dashboard_panel} is used by {seen_panels[signal.dashboard_panel]}"
            raise SignalConfigError(source, signal.name, "dashboard_panel", problem)
        seen_panels[signal.dashboard_panel] = signal.name

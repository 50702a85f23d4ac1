"""The signal model: what a monitoring signal is, independent of where it is written down.

A `MonitoringSignal` names a series of the contract (`Selector`), how it is detected (`Spike`, a ratio
against its own baseline; `AnyIncrease`, any new event) and how bad it is. The built-ins live in
`catalogue`, users' files are read by `load` through the versioned spec in `spec`, and the generator, the
receiver and the prompt-log evidence read only these types, so a signal from either source reaches them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from otel_ai_incident import names
from otel_ai_incident.names import MetricSpec

JOB_LABEL = "job"  # added by Prometheus' scrape config, never by the hooks
NAMESPACE_LABEL = "namespace"  # added by the Prometheus Operator's ServiceMonitor and PodMonitor
#: Target labels every aggregation keeps unless the catalogue adds more (`aggregate_by`): an
#: AlertmanagerConfig only routes alerts whose `namespace` is its own, and one team's traffic must not move
#: another's baseline. A series without one of them aggregates under the empty value.
DEFAULT_TARGET_LABELS = (NAMESPACE_LABEL, JOB_LABEL)
BUCKET_LABEL = "le"


class AlertSeverity(StrEnum):
    """How fast someone must act; the value is the alerts' `priority` label, which the receiver acts on."""

    P1 = names.Severity.P1.value  # immediate response required
    P2 = names.Severity.P2.value  # response within 1 hour
    P3 = names.Severity.P3.value  # response within 1 business day


#: The conventional `severity` alert label of each priority, as kubernetes-mixin's alerts carry it, so the
#: routes and silences a team already has apply; a signals file may map them otherwise (`severity_levels`).
DEFAULT_SEVERITY_LEVELS: dict[AlertSeverity, str] = {
    AlertSeverity.P1: "critical",
    AlertSeverity.P2: "warning",
    AlertSeverity.P3: "info",
}

_PRIORITIES = frozenset(AlertSeverity)
_PRIORITY_OF_LEVEL = {level: priority for priority, level in DEFAULT_SEVERITY_LEVELS.items()}


def alert_priority(labels: Mapping[str, str]) -> AlertSeverity | None:
    """The catalogue's priority of an alert, whichever rule file raised it.

    The `priority` label of current rules; else a p1/p2/p3 `severity` (rule files generated before `priority`
    existed); else a conventional `severity` read back by the default levels (critical is p1).
    """
    priority, severity = labels.get(names.ALERT_LABEL_PRIORITY), labels.get(names.ALERT_LABEL_SEVERITY)
    for value in (priority, severity):
        if value in _PRIORITIES:
            return AlertSeverity(value)
    return _PRIORITY_OF_LEVEL.get(severity or "")


_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
#: A Prometheus duration of whole days, hours, minutes and seconds, largest unit first ("1h30m").
DURATION_PATTERN = r"^(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$"
_DURATION_RE = re.compile(DURATION_PATTERN)


@dataclass(frozen=True, order=True)
class Duration:
    """A whole number of seconds, written the Prometheus way ("1h30m") in rules and YAML."""

    seconds: int

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION_RE.match(str(text).strip())
        if not match:
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
    for spec in names.ALL_METRICS:
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
            raise ValueError(f'{text!r} is not a selector like metric{{label="value"}}')
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
    target_labels: tuple[str, ...] = DEFAULT_TARGET_LABELS  # the scrape's labels, kept by every aggregation
    severity_level: str | None = None  # the `severity` alert label; None: DEFAULT_SEVERITY_LEVELS

    @property
    def alert_severity(self) -> str:
        """The conventional `severity` label of the signal's alerts (critical, warning, info by default)."""
        return self.severity_level or DEFAULT_SEVERITY_LEVELS[self.severity]

    def aggregation_labels(self, by: tuple[str, ...]) -> tuple[str, ...]:
        """What a detection's sums keep: the target labels, then its own `by` (each label once)."""
        return tuple(dict.fromkeys((*self.target_labels, *by)))

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

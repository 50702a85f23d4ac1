"""promtool unit tests for every generated alert, derived from the same catalogue as the rules.

Each detection gets one test whose scenarios run side by side, one `job` each (two namespaces of one job
where a scenario checks that the target labels keep them apart), on a shared timeline: first
the history that sets the baseline (`baseline_min_history` plus two steps, one sample a minute), then each
scenario's phases. The numbers come from the signal (multiple, floor, minimum traffic, windows, `for`,
`keep_firing_for`), so a changed threshold moves its tests with it. Checks query `ALERTS` (firing with the
contract labels, or not firing) and the recording rules (within a relative tolerance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.generate.output import to_yaml
from otel_ai_incident.generate.promql import AnyIncreaseQueries, SpikeQueries
from otel_ai_incident.generate.series import (
    Phase,
    cumulative,
    exact,
    excluded_variants,
    labels_for,
    matches,
    notation,
    per_minute,
    series_text,
)
from otel_ai_incident.signals import JOB_LABEL, AnyIncrease, Duration, MonitoringSignal, Selector, Spike

BY_LABEL_VALUE = "test"
ISOLATION_JOB = "namespaces"  # one job in two namespaces: a busy one and a quiet one
TOLERANCE = 1e-6
SAMPLE_INTERVAL = Duration(60)


def _minutes(duration: Duration) -> int:
    return math.ceil(duration.seconds / 60)


def _eval_time(minute: int) -> str:
    return str(Duration(minute * 60))


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


@dataclass
class Scenario:
    """One `job` on the timeline: its history, its phases after it, and what must hold at which minute.

    `where` gives the target labels other than `job` (a namespace); a label it leaves out is absent, as on a
    series scraped without it, and the sums keep it as the empty value."""

    job: str
    phases: list[Phase]
    history: Phase | None = None  # per-minute rates during the history; None: the service does not exist yet
    history_minutes: int | None = None  # how much of the history the job has (a young service); None: all
    numerator_labels: dict[str, str] | None = None  # a label set the numerator must NOT match
    fires: list[int] = field(default_factory=list)  # minutes after the history when the alert must fire
    silent: list[int] = field(default_factory=list)  # ... when it must not
    values: list[tuple[int, str, float]] = field(default_factory=list)  # (minute, recorded series, value)
    where: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "/".join((self.job, *self.where.values()))

    @property
    def length(self) -> int:
        return sum(p.minutes for p in self.phases) + 1


@dataclass
class DetectionTest:
    """The scenarios of one alert, turned into promtool input series and checks."""

    signal: MonitoringSignal
    alertname: str
    labels: tuple[str, ...]
    numerator: Selector
    denominator: Selector | None
    history_minutes: int
    scenarios: list[Scenario]

    @property
    def total_minutes(self) -> int:
        return self.history_minutes + max(s.length for s in self.scenarios)

    def _base_labels(self, scenario: Scenario) -> dict[str, str]:
        by = {label: BY_LABEL_VALUE for label in self.labels if label not in self.signal.target_labels}
        return {JOB_LABEL: scenario.job, **scenario.where, **by}

    def _selected(self, scenario: Scenario) -> str:
        """Matchers for the scenario's target labels, an absent one as `=""`, so scenarios never overlap."""
        targets = {label: "" for label in self.signal.target_labels} | self._base_labels(scenario)
        return ",".join(f'{k}="{v}"' for k, v in targets.items() if k in self.signal.target_labels)

    def _timeline(self, scenario: Scenario, pick: str) -> list[Fraction | None]:
        history = scenario.history or Phase(0, None, None)
        lived = self.history_minutes if scenario.history_minutes is None else scenario.history_minutes
        phases = [
            Phase(self.history_minutes - lived, None, None),
            Phase(lived, history.denominator, history.numerator),
            *scenario.phases,
        ]
        return cumulative(per_minute(phases, self.total_minutes, pick))

    def input_series(self) -> list[dict[str, str]]:
        return [series for scenario in self.scenarios for series in self._series(scenario)]

    def _series(self, scenario: Scenario) -> list[dict[str, str]]:
        base = self._base_labels(scenario)
        num = self._timeline(scenario, "numerator")
        num_labels = scenario.numerator_labels or labels_for(self.numerator, base)
        if self.denominator is None:
            return [{"series": series_text(self.numerator.metric, num_labels), "values": notation(num)}]
        den = self._timeline(scenario, "denominator")
        series: list[dict[str, str]] = []
        if self.numerator.above is not None:
            # Calls above the boundary are _count - _bucket{le=boundary}; the denominator is that _count.
            bucket = [None if d is None else d - (n or 0) for d, n in zip(den, num, strict=True)]
            le = {**num_labels, "le": f"{self.numerator.above:g}"}
            series.append({"series": series_text(self.numerator.metric + "_bucket", le), "values": notation(bucket)})
        else:
            series.append({"series": series_text(self.numerator.metric, num_labels), "values": notation(num)})
            if matches(self.denominator, self.numerator.metric, num_labels):
                den = [None if d is None else d - (n or 0) for d, n in zip(den, num, strict=True)]
        den_labels = labels_for(self.denominator, base)
        series.append({"series": series_text(self.denominator.metric, den_labels), "values": notation(den)})
        return series

    def checks(self) -> list[dict[str, Any]]:
        alert_labels = {
            "alertname": self.alertname,
            names.ALERT_LABEL_SIGNAL: self.signal.name,
            names.ALERT_LABEL_PRIORITY: self.signal.severity.value,
            names.ALERT_LABEL_SEVERITY: self.signal.alert_severity,
            names.ALERT_LABEL_INCIDENT_TYPE: self.signal.incident_type,
        }
        checks: list[dict[str, Any]] = []
        for scenario in self.scenarios:
            job, selected = self._base_labels(scenario), self._selected(scenario)
            firing = f'ALERTS{{alertname="{self.alertname}",alertstate="firing",{selected}}}'
            expected = [{"labels": _labels({**alert_labels, **job}), "value": 1}]
            for minute in scenario.fires:
                expr = f"count by ({', '.join([*alert_labels, *self.labels])}) ({firing})"
                checks.append(self._check(expr, minute, expected))
            for minute in scenario.silent:
                checks.append(self._check(firing, minute, []))
            for minute, record, value in scenario.values:
                bound = max(TOLERANCE, TOLERANCE * abs(value))
                expr = f"abs({record}{{{selected}}} - {value!r}) <= bool {bound!r}"
                checks.append(self._check(expr, minute, [{"labels": _labels(job), "value": 1}]))
        return checks

    def _check(self, expr: str, minute: int, samples: list[dict[str, Any]]) -> dict[str, Any]:
        return {"expr": expr, "eval_time": _eval_time(self.history_minutes + minute), "exp_samples": samples}

    def document(self) -> dict[str, Any]:
        return {
            "name": f"{self.alertname}: {', '.join(s.name for s in self.scenarios)}",
            "interval": str(SAMPLE_INTERVAL),
            "input_series": self.input_series(),
            "promql_expr_test": self.checks(),
        }


def spike_scenarios(signal: MonitoringSignal, spike: Spike) -> list[Scenario]:
    """Must fire: a spike, a spike over a zero baseline, a young service's obvious spike, a counter that
    first appears mid-window. Must not: a rise under the multiple, a rise under the floor, one block among
    three turns, too few events, no traffic (NaN), a young service under the absolute threshold, series
    outside the selector, a single burst (with a confirm window). Recovery and flapping check keep_firing_for.
    Per target label set: a namespace running at the spike ratio all along does not fire (its own baseline)
    and does not raise the baseline of another namespace of the same job, whose spike fires.
    """
    q = SpikeQueries(signal, spike)
    window, hold, keep = _minutes(spike.window), _minutes(spike.for_), _minutes(spike.keep_firing_for)
    floor, multiple = exact(spike.floor), exact(spike.multiple)
    baseline = 2 * floor  # above the floor, so the multiple is what matters
    threshold = multiple * baseline
    spike_ratio = min(2 * threshold, (1 + threshold) / 2)
    absolute = exact(spike.absolute_threshold)
    # A young service, half the minimum history old, whose traffic ran at half the absolute threshold; its
    # spike is over the absolute threshold but, where the multiple allows, under multiple x its own history.
    young_ratio = min((absolute + multiple * absolute / 2) / 2 if multiple > 2 else 2 * absolute, (1 + absolute) / 2)
    min_turns, min_events = exact(spike.min_denominator), exact(spike.min_events)
    turns = Fraction(math.ceil(max(4 * min_turns / window, 8 * max(min_events, 1) / (threshold * window), 1)))
    settle = window + hold + 5  # long enough for the window to fill and `for` to pass

    def steady(ratio: Fraction, minutes: int = settle) -> Phase:
        return Phase(minutes, turns, turns * ratio)

    normal, zero = steady(baseline), steady(Fraction(0))
    young_history, young_minutes = steady(absolute / 2), _minutes(spike.baseline_min_history) // 2
    end = settle - 1
    scenarios = [
        Scenario(
            "spike",
            [steady(spike_ratio)],
            normal,
            fires=[end],
            values=[
                (-1, q.baseline, float(baseline)),
                (-1, q.threshold, float(threshold)),
                *((end, q.ratio(w), float(spike_ratio)) for w in spike.windows),
                (end, q.numerator(spike.window), float(turns * spike_ratio / 60)),
            ],
        ),
        Scenario("below_multiple", [steady(threshold / 2)], normal, silent=[end]),
        Scenario("zero_baseline_spike", [steady(2 * multiple * floor)], zero, fires=[end]),
        Scenario("zero_baseline_below_floor", [steady(multiple * floor / 2)], zero, silent=[end]),
        Scenario("low_traffic", [Phase(settle, Fraction(3, window), Fraction(1, window))], normal, silent=[end]),
        Scenario("no_traffic", [Phase(settle, Fraction(0), Fraction(0))], normal, silent=[end]),
        Scenario(
            "young_service_spike",
            [steady(young_ratio)],
            young_history,
            history_minutes=young_minutes,
            fires=[end],
            values=[(end, q.threshold, spike.absolute_threshold)],
        ),
        Scenario(
            "young_service_below_absolute",
            [steady(absolute / 2)],
            young_history,
            history_minutes=young_minutes,
            silent=[end],
        ),
        Scenario(
            "recovery",
            [steady(spike_ratio), steady(baseline, window + keep + 5)],
            normal,
            fires=[end, settle + keep - 1],
            silent=[settle + window + keep + 2],
        ),
    ]
    few = (max(min_events, 1) - 1) / (2 * threshold)  # turns per window giving twice the threshold
    if min_events > 1 and few >= Fraction(3, 2) * min_turns:
        per = Fraction(1, window)
        few_events = Phase(settle, few * per, (min_events - 1) * per)
        scenarios.append(Scenario("few_events", [few_events], normal, silent=[end]))
    if spike.numerator.above is None:
        first = Phase(0, turns, None)
        scenarios.append(Scenario("first_appearance", [steady(spike_ratio)], first, fires=[end]))
    scenarios += _flapping(spike_ratio, baseline, turns, settle, window, keep)
    label = _isolating_label(signal)
    if label is not None:
        busy = Phase(settle, 10 * turns, 10 * turns * spike_ratio)
        scenarios += [
            Scenario(ISOLATION_JOB, [busy], busy, where={label: "busy"}, silent=[end]),
            Scenario(ISOLATION_JOB, [steady(spike_ratio)], normal, where={label: "quiet"}, fires=[end]),
        ]
    if spike.confirm_window is not None and hold > _minutes(spike.confirm_window) + 1:
        burst = Phase(1, 10 * turns * window, 10 * turns * window)
        checks = sorted({_minutes(spike.confirm_window), hold, hold + 2, window, window + hold})
        scenarios.append(Scenario("single_burst", [burst, steady(baseline)], normal, silent=checks))
    base = {JOB_LABEL: "", **{label: BY_LABEL_VALUE for label in spike.by}}
    for matcher, labels in excluded_variants(spike.numerator, base):
        job = f"excluded_{matcher.label}"
        outside = {**labels, JOB_LABEL: job}
        scenarios.append(Scenario(job, [steady(spike_ratio)], normal, numerator_labels=outside, silent=[end]))
    return scenarios


def _flapping(
    spike: Fraction, baseline: Fraction, turns: Fraction, settle: int, window: int, keep: int
) -> list[Scenario]:
    """Fires, then dips under the threshold for less than keep_firing_for between spikes: it must stay firing."""
    if keep < 3:
        return []
    dip, back = Phase(keep - 2, turns, turns * baseline), Phase(window, turns, turns * spike)
    phases = [Phase(settle, turns, turns * spike), dip, back, dip, back]
    ends = [sum(p.minutes for p in phases[: i + 1]) for i in range(len(phases))]
    return [Scenario("flapping", phases, Phase(0, turns, turns * baseline), fires=ends)]


def _isolating_label(signal: MonitoringSignal) -> str | None:
    """The target label that tells two deployments of one job apart (the namespace), if the signal keeps one."""
    return next((label for label in signal.target_labels if label != JOB_LABEL), None)


def any_increase_scenarios(signal: MonitoringSignal, detection: AnyIncrease) -> list[Scenario]:
    """Must fire: one event, the first event of a series that did not exist. Must not: no events, a counter
    reset (app restart), series outside the selector, and no longer once keep_firing_for has passed. An
    event in one namespace fires there only.
    """
    window, hold, keep = _minutes(detection.window), _minutes(detection.for_), _minutes(detection.keep_firing_for)
    start = window + 5
    quiet = Phase(start, None, Fraction(0))
    event = [quiet, Phase(1, None, Fraction(1)), Phase(window + keep + 5, None, Fraction(0))]
    q_minute = start + hold + 1
    restart_at = window + keep + 10
    scenarios = [
        Scenario("event", event, fires=[q_minute, start + keep - 1], silent=[start + window + keep + 2]),
        Scenario("quiet", [quiet], silent=[start, q_minute]),
        Scenario(
            "new_series",
            [Phase(start, None, None), Phase(1, None, Fraction(1)), Phase(1, None, Fraction(0))],
            fires=[q_minute],
        ),
        Scenario(
            "restart",
            [
                Phase(1, None, Fraction(0)),
                Phase(1, None, Fraction(7)),
                Phase(restart_at - 2, None, Fraction(0)),
                Phase(1, None, None),
                Phase(window, None, Fraction(0)),
            ],
            silent=[restart_at + 1, restart_at + window],
        ),
    ]
    base = {JOB_LABEL: "", **{label: BY_LABEL_VALUE for label in detection.by}}
    for matcher, labels in excluded_variants(detection.selector, base):
        job = f"excluded_{matcher.label}"
        scenarios.append(Scenario(job, event, numerator_labels={**labels, JOB_LABEL: job}, silent=[q_minute]))
    label = _isolating_label(signal)
    if label is not None:
        scenarios += [
            Scenario(ISOLATION_JOB, event, where={label: "busy"}, fires=[q_minute]),
            Scenario(ISOLATION_JOB, [quiet], where={label: "quiet"}, silent=[q_minute]),
        ]
    return scenarios


def detection_tests(signal: MonitoringSignal) -> list[DetectionTest]:
    tests = []
    if signal.spike is not None:
        spike = signal.spike
        history = _minutes(spike.baseline_min_history) + 2 * _minutes(spike.baseline_step)
        tests.append(
            DetectionTest(
                signal,
                spike.alertname,
                SpikeQueries(signal, spike).labels,
                spike.numerator,
                spike.denominator,
                history,
                spike_scenarios(signal, spike),
            )
        )
    if signal.any_increase is not None:
        detection = signal.any_increase
        tests.append(
            DetectionTest(
                signal,
                detection.alertname,
                AnyIncreaseQueries(signal, detection).labels,
                detection.selector,
                None,
                0,
                any_increase_scenarios(signal, detection),
            )
        )
    return tests


TEST_FILE = "ai_incident.rules.test.yml"


def render(signal_tests: list[DetectionTest], rule_file: str) -> dict[str, str]:
    """The promtool test file (one test per alert, each with its must-fire and must-not-fire cases)."""
    document = {
        "rule_files": [rule_file],
        "evaluation_interval": str(SAMPLE_INTERVAL),
        "tests": [test.document() for test in signal_tests],
    }
    alerts = ", ".join(test.alertname for test in signal_tests)
    return {TEST_FILE: to_yaml(document, f"promtool tests of {alerts}; run: promtool test rules {TEST_FILE}")}

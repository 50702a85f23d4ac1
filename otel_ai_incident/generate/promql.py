"""Recording-rule names and PromQL for one signal, shared by the rules, their tests and the dashboard.

Names follow Prometheus' `level:metric:operations` convention: the level is the labels kept (the target
labels, `namespace` and `job` by default, plus the model or tool where the signal aggregates by them), the
metric is the signal, and the operation says what was computed (`rate10m`, `ratio_rate10m`,
`ratio_baseline7d`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_ai_incident.signals import (
    BUCKET_LABEL,
    AnyIncrease,
    Duration,
    Matcher,
    MonitoringSignal,
    Selector,
    Spike,
)


def by_clause(labels: tuple[str, ...]) -> str:
    return ", ".join(labels)


def rate_expr(selector: Selector, window: Duration, labels: tuple[str, ...]) -> str:
    """Per-second rate of the selected events, summed by `labels`.

    For a histogram `above` a boundary, the calls above it are `_count - _bucket{le=boundary}`.
    """
    by = by_clause(labels)
    if selector.above is None:
        return f"sum by ({by}) (rate({selector.series()}[{window}]))"
    count = Selector(selector.metric + "_count", selector.matchers)
    bucket = Selector(selector.metric + "_bucket", selector.matchers)
    le = Matcher(BUCKET_LABEL, f"{selector.above:g}")
    return f"sum by ({by}) (rate({count.series()}[{window}])) - sum by ({by}) (rate({bucket.series((le,))}[{window}]))"


@dataclass(frozen=True)
class SpikeQueries:
    """Every recorded series of a spike detection and the expressions that compute them."""

    signal: MonitoringSignal
    spike: Spike

    @property
    def labels(self) -> tuple[str, ...]:
        return self.signal.aggregation_labels(self.spike.by)

    @property
    def level(self) -> str:
        return "_".join(self.labels)

    def numerator(self, window: Duration) -> str:
        return f"{self.level}:{self.signal.name}_numerator:rate{window}"

    def denominator(self, window: Duration) -> str:
        return f"{self.level}:{self.signal.name}_denominator:rate{window}"

    def ratio(self, window: Duration) -> str:
        return f"{self.level}:{self.signal.name}:ratio_rate{window}"

    @property
    def baseline(self) -> str:
        return f"{self.level}:{self.signal.name}:ratio_baseline{self.spike.baseline_window}"

    @property
    def threshold(self) -> str:
        return f"{self.level}:{self.signal.name}:ratio_threshold"

    def rate_rules(self, window: Duration) -> dict[str, str]:
        """Numerator and denominator rates, then their ratio.

        A numerator with no series yet (no event since start-up) counts as 0 where the denominator has
        traffic; no traffic at all gives 0/0 = NaN, which compares false and so neither fires nor breaks.
        """
        num, den = self.numerator(window), self.denominator(window)
        return {
            num: rate_expr(self.spike.numerator, window, self.labels),
            den: rate_expr(self.spike.denominator, window, self.labels),
            self.ratio(window): f"({num} or 0 * {den}) / {den}",
        }

    def baseline_rules(self) -> dict[str, str]:
        """Ratio of means over the baseline window, from rates recorded once per `baseline_step`.

        sum(num)/sum(den) over the hourly rates, not a mean of ratios, so quiet hours weigh less than busy
        ones and NaN hours drop out. It exists only once `baseline_min_history` of denominator history is
        there (a new service falls back to the absolute threshold) and only for non-zero traffic. It ends
        where the detection window begins (`offset`), so a spike never raises its own baseline.
        """
        spike, step = self.spike, self.spike.baseline_step
        num, den = self.numerator(step), self.denominator(step)
        span = f"[{spike.baseline_window}:{step}] offset {spike.window}"
        min_points = spike.baseline_min_history.seconds // step.seconds
        return {
            num: rate_expr(spike.numerator, step, self.labels),
            den: rate_expr(spike.denominator, step, self.labels),
            self.baseline: (
                f"(sum_over_time({num}{span}) or 0 * sum_over_time({den}{span}))\n"
                f"  / (sum_over_time({den}{span}) > 0)\n"
                f"and count_over_time({den}{span}) >= {min_points}"
            ),
        }

    def threshold_rule(self) -> dict[str, str]:
        """multiple x max(baseline, floor), or the absolute threshold while there is no baseline."""
        spike = self.spike
        return {
            self.threshold: (
                f"{spike.multiple:g} * clamp_min({self.baseline}, {spike.floor:g})\n"
                f"or 0 * {self.denominator(spike.window)} + {spike.absolute_threshold:g}"
            )
        }

    def alert_expr(self) -> str:
        """Over the threshold in every window, with enough traffic and enough events in the long one."""
        spike, window = self.spike, self.spike.window
        over = [f"{self.ratio(w)} > {self.threshold}" for w in spike.windows]
        guards = [
            f"{self.denominator(window)} * {window.seconds} >= {spike.min_denominator:g}",
            f"{self.numerator(window)} * {window.seconds} >= {spike.min_events:g}",
        ]
        return "\n".join([f"({over[0]})", *(f"and ({cond})" for cond in over[1:]), *(f"and ({g})" for g in guards)])


@dataclass(frozen=True)
class AnyIncreaseQueries:
    """The recorded count of new events of an any-increase detection."""

    signal: MonitoringSignal
    detection: AnyIncrease

    @property
    def labels(self) -> tuple[str, ...]:
        return self.signal.aggregation_labels(self.detection.by)

    @property
    def events(self) -> str:
        level = "_".join(self.labels)
        return f"{level}:{_snake(self.detection.alertname)}_events:increase{self.detection.window}"

    def rules(self) -> dict[str, str]:
        """Events within the window, counting a series that appeared in it with all of its value.

        `increase()` needs a sample before the first event; the hooks create the series at 0, but a label
        set they could not foresee (a new PII entity type) starts at 1. A series absent `window` ago counts
        its whole value, so that first event still pages.
        """
        series, window = self.detection.selector.series(), self.detection.window
        return {
            self.events: (
                f"sum by ({by_clause(self.labels)}) (\n"
                f"  ({series} unless {series} offset {window})\n"
                f"  or increase({series}[{window}])\n"
                f")"
            )
        }

    def alert_expr(self) -> str:
        return f"{self.events} > 0"


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")

"""What makes a signal unusable, checked on every signal whether built in or read from a file.

A signal is checked against the series the hooks emit (names, labels, histogram boundaries), so a typo fails
when the catalogue is loaded instead of producing a rule that silently never fires. The file's shape (field
names and types) is the spec's job (`spec`); this module checks what only the contract knows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from otel_ai_incident import names
from otel_ai_incident.signals.model import MonitoringSignal, Selector

BUILTIN_SOURCE = "built-in catalogue"
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ALERTNAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
LABEL_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
# Labels a target label may not be: Prometheus' own, and the ones the generated alerts set themselves.
_RESERVED_LABELS = frozenset(
    {
        "le",
        "alertname",
        "alertstate",
        names.ALERT_LABEL_SIGNAL,
        names.ALERT_LABEL_INCIDENT_TYPE,
        names.ALERT_LABEL_SEVERITY,
        names.ALERT_LABEL_PRIORITY,
    }
)
_NAME_RE = re.compile(NAME_PATTERN)
_ALERTNAME_RE = re.compile(ALERTNAME_PATTERN)


class SignalConfigError(ValueError):
    """A signals file or signal that cannot become a working rule, said in plain words: which file, which
    signal (by name, or by position `#3` when it has none) and which field, when there is one."""

    def __init__(
        self, source: str, problem: str, *, signal: str | int | None = None, field_name: str | None = None
    ) -> None:
        self.source, self.problem, self.signal, self.field_name = source, problem, signal, field_name
        where = []
        if signal is not None:
            where.append(f"signal #{signal}" if isinstance(signal, int) else f"signal {signal!r}")
        if field_name is not None:
            where.append(f"field {field_name!r}")
        super().__init__(f"{source}: {', '.join(where)}: {problem}" if where else f"{source}: {problem}")


def _check_selector(selector: Selector, fail: Callable[[str], None]) -> None:
    known = names.prometheus_series_names(names.ALL_GENERATIONS)  # a signal may follow either generation
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
            raise SignalConfigError(source, problem, signal=signal.name, field_name=field_name)

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


def check_target_labels(labels: Iterable[str], source: str) -> None:
    """Target labels (`aggregate_by`) end up on every recorded series and alert: they must not be one of the
    labels Prometheus or the generated alerts give a meaning of their own."""
    for label in labels:
        if label.startswith("__") or label in _RESERVED_LABELS:
            raise SignalConfigError(
                source, f"{label!r} is reserved; use a label of the scrape target", field_name="aggregate_by"
            )


def check_unique(signals: Iterable[MonitoringSignal], source: str) -> None:
    """Alert names and dashboard panels are keys elsewhere (routes, links): two signals may not share one."""
    seen_alerts: dict[str, str] = {}
    seen_panels: dict[int, str] = {}
    for signal in signals:
        for key, alertname in _alertnames(signal):
            if alertname in seen_alerts:
                problem = f"{alertname} is already the alert of {seen_alerts[alertname]}"
                raise SignalConfigError(source, problem, signal=signal.name, field_name=f"{key}.alertname")
            seen_alerts[alertname] = signal.name
        if signal.dashboard_panel in seen_panels:
            problem = f"panel {signal.dashboard_panel} is already the panel of {seen_panels[signal.dashboard_panel]}"
            raise SignalConfigError(source, problem, signal=signal.name, field_name="dashboard_panel")
        seen_panels[signal.dashboard_panel] = signal.name


def _alertnames(signal: MonitoringSignal) -> list[tuple[str, str]]:
    return [(key, d.alertname) for key, d in (("spike", signal.spike), ("any_increase", signal.any_increase)) if d]

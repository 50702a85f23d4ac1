"""Prometheus recording and alerting rules from the signal catalogue.

One group per signal holds its short-window rates, ratios, threshold and alerts, in that order, so an alert
reads series recorded in the same evaluation. The 7-day baselines live in one slower group: they move by
the hour, and their subqueries are the only costly part.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.generate.links import Links
from otel_ai_incident.generate.output import to_yaml
from otel_ai_incident.generate.playbooks import playbook_for
from otel_ai_incident.generate.promql import AnyIncreaseQueries, SpikeQueries
from otel_ai_incident.signals import AnyIncrease, MonitoringSignal, Profile, Spike

BASELINE_GROUP = "ai-incident-baselines"


def group_name(signal: MonitoringSignal) -> str:
    return f"ai-incident-{signal.name}"


def _records(exprs: dict[str, str]) -> list[dict[str, str]]:
    return [{"record": record, "expr": expr} for record, expr in exprs.items()]


def _where(labels: tuple[str, ...]) -> str:
    return " ".join(f"{label}={{{{ $labels.{label} }}}}" for label in labels)


def _containment(signal: MonitoringSignal) -> str:
    playbook = playbook_for(signal)
    if playbook is None:
        return "No default playbook for this incident type: contain by hand (see the runbook)."
    actions = ", then ".join(action.value for action in playbook.actions)
    return f"Playbook {playbook.incident_type}: {actions}."


def _alert(
    signal: MonitoringSignal,
    detection: Spike | AnyIncrease,
    expr: str,
    labels: tuple[str, ...],
    value_text: str,
    links: Links,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": detection.alertname, "expr": expr}
    if detection.for_.seconds:
        rule["for"] = str(detection.for_)
    rule["keep_firing_for"] = str(detection.keep_firing_for)
    rule["labels"] = {
        names.ALERT_LABEL_SIGNAL: signal.name,
        names.ALERT_LABEL_PRIORITY: signal.severity.value,
        names.ALERT_LABEL_SEVERITY: signal.alert_severity,
        names.ALERT_LABEL_INCIDENT_TYPE: signal.incident_type,
    }
    summary, description, runbook_url, dashboard_url = names.ALERT_ANNOTATIONS
    rule["annotations"] = {
        summary: f"{signal.description} ({_where(labels)})",
        description: f"{signal.detection_method}. {value_text} {_containment(signal)}",
        runbook_url: links.runbook(signal),
        dashboard_url: links.dashboard(signal),
    }
    return rule


def spike_alert(signal: MonitoringSignal, spike: Spike, links: Links) -> dict[str, Any]:
    queries = SpikeQueries(signal, spike)
    value = (
        f"Ratio over {spike.window}: {{{{ $value | humanizePercentage }}}}; threshold {spike.multiple:g}x "
        f"the {spike.baseline_window} baseline (at least {spike.threshold_ratio:g}), "
        f"{spike.absolute_threshold:g} while there is under {spike.baseline_min_history} of history."
    )
    return _alert(signal, spike, queries.alert_expr(), queries.labels, value, links)


def any_increase_alert(signal: MonitoringSignal, detection: AnyIncrease, links: Links) -> dict[str, Any]:
    queries = AnyIncreaseQueries(signal, detection)
    value = f"{{{{ $value }}}} event(s) of {detection.selector} in the last {detection.window}."
    return _alert(signal, detection, queries.alert_expr(), queries.labels, value, links)


def signal_group(signal: MonitoringSignal, profile: Profile, links: Links) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    if signal.spike is not None:
        queries = SpikeQueries(signal, signal.spike)
        for window in signal.spike.windows:
            rules += _records(queries.rate_rules(window))
        rules += _records(queries.threshold_rule())
        alerts.append(spike_alert(signal, signal.spike, links))
    if signal.any_increase is not None:
        rules += _records(AnyIncreaseQueries(signal, signal.any_increase).rules())
        alerts.append(any_increase_alert(signal, signal.any_increase, links))
    return {"name": group_name(signal), "interval": str(profile.rate_interval), "rules": rules + alerts}


def baseline_group(signals: Iterable[MonitoringSignal], profile: Profile) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for signal in signals:
        if signal.spike is not None:
            queries = SpikeQueries(signal, signal.spike)
            # A short window equal to the baseline step is already recorded by the signal's own group.
            recorded = {record for window in signal.spike.windows for record in queries.rate_rules(window)}
            baseline = {k: v for k, v in queries.baseline_rules().items() if k not in recorded}
            rules += _records(baseline)
    return {"name": BASELINE_GROUP, "interval": str(profile.baseline_interval), "rules": rules}


def rule_groups(signals: list[MonitoringSignal], profile: Profile, links: Links) -> dict[str, Any]:
    """The rule file's content; `signals` must already have the profile applied."""
    groups = [signal_group(signal, profile, links) for signal in signals]
    return {"groups": [*groups, baseline_group(signals, profile)]}


def render(signals: list[MonitoringSignal], profile: Profile, links: Links) -> str:
    comment = f"Profile: {profile.name}. Alerts, recording rules and their promtool tests come from one catalogue."
    return to_yaml(rule_groups(signals, profile, links), comment)

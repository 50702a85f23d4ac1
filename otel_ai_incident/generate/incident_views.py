"""The dashboard's incident views: which AI alerts fire, what containment is in force, and when either changed.

An on-call person opening the dashboard first asks "what is firing, and what have we already switched off?",
so two state timelines answer that at the top, and annotations mark on every panel when an AI alert fired and
when containment was applied or lifted. All of it comes from Prometheus alone (`ALERTS`, which Prometheus
keeps for every alerting rule, and `ai_containment_active`, which the app's gate and the receiver expose), so
it works in any Grafana without Grafana's own alerting.

The alerts are ours only: `ALERTS` restricted to the catalogue's alert names and to the `signal` label every
generated alert carries, so the rest of a Prometheus' alerts (a Watchdog, node alerts) stay out.
"""

from __future__ import annotations

from otel_ai_incident import names
from otel_ai_incident.generate.panel_spec import (
    AnnotationSpec,
    PanelKind,
    PanelSpec,
    Query,
    State,
    legend,
    scoped,
)
from otel_ai_incident.signals import MonitoringSignal

ALERTS = "ALERTS"  # Prometheus' own series of pending and firing alerts
ALERT_NAME = "alertname"
ALERT_STATE = "alertstate"
PENDING, FIRING = "pending", "firing"
PENDING_VALUE, FIRING_VALUE = 1, 2
#: Grafana's step of the query; comparing with the value one step before sees each change exactly once.
STEP = "$__interval"
ALERTS_PANEL_ID = 907
CONTAINMENT_PANEL_ID = 904


def alerts(signals: list[MonitoringSignal], state: str) -> str:
    """`ALERTS` of the catalogue's alerts in `state`, narrowed to the dashboard's namespace and job.

    Names are joined into regexes unescaped: the catalogue only accepts names without regex characters.
    """
    alertnames = "|".join(name for signal in signals for name in signal.alertnames)
    signal_names = "|".join(signal.name for signal in signals)
    ours = f'{ALERT_NAME}=~"{alertnames}",{names.ALERT_LABEL_SIGNAL}=~"{signal_names}",{ALERT_STATE}="{state}"'
    return scoped(ALERTS, (), ours)


def target_labels(signals: list[MonitoringSignal]) -> tuple[str, ...]:
    """Where an alert fired: the scrape labels every detection keeps (namespace and job, plus e.g. cluster)."""
    return tuple(dict.fromkeys(label for signal in signals for label in signal.target_labels))


def _alert_row(signals: list[MonitoringSignal]) -> tuple[str, ...]:
    return (names.ALERT_LABEL_PRIORITY, ALERT_NAME, *target_labels(signals))


def alert_states(signals: list[MonitoringSignal]) -> str:
    """One series per alert and target: 2 while it fires, 1 while pending, absent otherwise."""
    by = ", ".join(_alert_row(signals))
    firing, pending = alerts(signals, FIRING), alerts(signals, PENDING)
    return f"max by ({by}) (\n  {FIRING_VALUE} * {firing}\n  or {pending}\n)"


def _active() -> str:
    spec = names.CONTAINMENT_ACTIVE
    return scoped(spec.prometheus, spec.labels)


def in_force() -> str:
    """Containment entries in force by action; max, not sum: the app's workers and replicas and the receivers
    each report the same shared state."""
    return f"max by ({names.ACTION}) ({_active()})"


def changed(direction: str) -> str:
    """1 at the step where the number in force of an action went up (`>`) or down (`<`), else nothing."""
    return f"(\n  {in_force()}\n  {direction} bool\n  max by ({names.ACTION}) ({_active()} offset {STEP})\n) == 1"


def incident_panels(signals: list[MonitoringSignal]) -> list[PanelSpec]:
    return [
        PanelSpec(
            ALERTS_PANEL_ID,
            "AI alerts",
            "The catalogue's alerts, from Prometheus' ALERTS: pending (its `for` not yet over) or firing. "
            "A firing alert reaches the receiver, which opens an incident and runs its playbook.",
            "none",
            (Query(alert_states(signals), legend(_alert_row(signals))),),
            kind=PanelKind.STATE_TIMELINE,
            states=(
                State(PENDING_VALUE, PENDING_VALUE, PENDING, "orange"),
                State(FIRING_VALUE, FIRING_VALUE, FIRING, "red"),
            ),
        ),
        PanelSpec(
            CONTAINMENT_PANEL_ID,
            "Containment actions in force",
            "Containment entries in force by action (ai.containment.active, as the apps' gates and the receiver "
            "read the containment state): what users are living with right now.",
            "short",
            (Query(in_force(), legend((names.ACTION,))),),
            kind=PanelKind.STATE_TIMELINE,
            states=(State(0, 0, "none", "green"), State(1, None, None, "red")),
        ),
    ]


def annotations(signals: list[MonitoringSignal]) -> list[AnnotationSpec]:
    where = legend(target_labels(signals))
    action = legend((names.ACTION,))
    return [
        AnnotationSpec(
            "AI alert firing",
            alerts(signals, FIRING),
            f"{legend((ALERT_NAME,))} firing",
            f"{legend((names.ALERT_LABEL_SIGNAL,))}: priority {legend((names.ALERT_LABEL_PRIORITY,))}, "
            f"incident type {legend((names.ALERT_LABEL_INCIDENT_TYPE,))}, on {where}",
            (names.ALERT_LABEL_PRIORITY, names.ALERT_LABEL_INCIDENT_TYPE, names.ALERT_LABEL_SIGNAL),
            "red",
        ),
        AnnotationSpec(
            "Containment applied",
            changed(">"),
            f"Containment applied: {action}",
            f"More {action} entries in force than a step before (applied by a playbook or approved).",
            (names.ACTION,),
            "orange",
        ),
        AnnotationSpec(
            "Containment lifted",
            changed("<"),
            f"Containment lifted: {action}",
            f"Fewer {action} entries in force than a step before (lifted, or a rate limit lapsed).",
            (names.ACTION,),
            "green",
        ),
    ]

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

ALERTS, ALERT_NAME, ALERT_STATE = names.PROMETHEUS_ALERTS, names.ALERT_LABEL_NAME, names.ALERT_LABEL_STATE
PENDING, FIRING = "pending", "firing"
PENDING_VALUE, FIRING_VALUE = 1, 2
#: Grafana's step of the query: each step of an annotation says whether containment changed in it.
STEP = "$__interval"
# Among the dashboard's fixed panels (900 and up); 904 is the id the in-force panel had in the containment row
# before it moved up, so links to it (viewPanel=904) keep working.
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


def _each_step(function: str) -> str:
    return f"max by ({names.ACTION}) ({function}({_active()}[{STEP}]))"


def _changed(compare: str, toward: str, away: str) -> str:
    """1 at each step in which the number in force of an action moved in the direction of `compare`.

    Either the step's extreme passed the value a step before (a change across the step's start, or in it),
    or the step ends away from its other extreme (a change and its reversal in one step: a kill switch
    applied and lifted within a minute still marks both). Each change of a sample is seen in exactly one
    step, so each is one event; sums of the two tests are clamped to the 1 that every Grafana marks.
    """
    across = f"{_each_step(toward)} {compare} bool max by ({names.ACTION}) ({_active()} offset {STEP})"
    within = f"{in_force()} {compare} bool {_each_step(away)}"
    return f"clamp_max(\n  ({across})\n  + ({within}),\n  1\n) == 1"


def applied() -> str:
    return _changed(">", "max_over_time", "min_over_time")


def lifted() -> str:
    return _changed("<", "min_over_time", "max_over_time")


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
            applied(),
            f"Containment applied: {action}",
            f"More {action} entries in force than a step before (applied by a playbook or approved).",
            (names.ACTION,),
            "orange",
        ),
        AnnotationSpec(
            "Containment lifted",
            lifted(),
            f"Containment lifted: {action}",
            f"Fewer {action} entries in force than a step before (lifted, or a rate limit lapsed).",
            (names.ACTION,),
            "green",
        ),
    ]

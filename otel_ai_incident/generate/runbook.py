"""docs/runbook.md from the catalogue and the playbooks, after the design text's runbook template.

Each signal gets an anchor (its alerts' runbook_url points there) with DETECT and CONTAIN steps of its own;
INVESTIGATE, REMEDIATE, COMMUNICATE and POST-MORTEM are the same for every incident and written once.
"""

from __future__ import annotations

from otel_ai_incident.containment.playbooks import ContainmentPlaybook, PlaybookMode
from otel_ai_incident.generate.links import Links
from otel_ai_incident.generate.output import HEADER
from otel_ai_incident.generate.playbooks import playbook_for
from otel_ai_incident.generate.promql import AnyIncreaseQueries, SpikeQueries
from otel_ai_incident.names import ContainmentActionName
from otel_ai_incident.signals import AlertSeverity, AnyIncrease, MonitoringSignal, Spike

CLI = "otel-ai-incident"

COMMON = f"""\
## Every incident

### INVESTIGATE
1. Pull the prompt logs of the affected sessions: `{CLI} incidents show <id>` lists them, `{CLI} logs export`
   exports them (pseudonymised user ids only).
2. Reproduce in staging from the logged inputs: `{CLI} replay <log_id> --llm module:function` replays a held
   turn with the prompt of the time and the current one, shows both prompts and their diff, and records the
   result in the incident (`--no-record` to only try a prompt).
3. Classify the root cause: model / prompt / data / config / infra (`{CLI} incidents rca <id>` suggests one).
4. Identify the blast radius: how many users and sessions saw the behaviour (`{CLI} incidents show <id>`).

### REMEDIATE
5. Apply the fix for the root cause: model -> roll back or pin the model; prompt -> roll back the system
   prompt; data -> fix or remove the retrieved data; config -> revert the change.
6. Test the fix against the reproduction case.
7. Add the reproduction as a regression test to the eval suite.
8. Roll out with monitoring for recurrence, then lift containment: `{CLI} containment lift <action>`.

### COMMUNICATE
9. Internal: update the incident channel every 30 minutes during a P1.
10. Customers: notify per SLA if the service was degraded or contained.
11. Regulatory: for personal data, check the GDPR breach notification trigger (72 h from awareness).

### POST-MORTEM
12. Complete the post-mortem within 5 business days: `{CLI} postmortem <id>` drafts it from the timeline.
13. Confirm the regression test is merged.
14. Present the findings to the team; share what was learned.
"""

_UNCERTAIN = (
    f"If uncertain, restrict to read-only as a precaution (`{ContainmentActionName.RESTRICT_TO_READ_ONLY.value}`)."
)


def _thresholds(signal: MonitoringSignal, detection: Spike | AnyIncrease) -> list[str]:
    if isinstance(detection, AnyIncrease):
        q = AnyIncreaseQueries(signal, detection)
        return [
            f"`{detection.alertname}`: any event of `{detection.selector}` within {detection.window} "
            f"(recorded as `{q.events}`), `for` {detection.for_}, keeps firing {detection.keep_firing_for}.",
        ]
    s = SpikeQueries(signal, detection)
    windows = " and ".join(str(w) for w in detection.windows)
    return [
        f"`{detection.alertname}`: `{detection.numerator}` / `{detection.denominator}` over {windows} "
        f"(`{s.ratio(detection.window)}`) above `{s.threshold}`.",
        f"Threshold: {detection.multiple:g}x the {detection.baseline_window} baseline (`{s.baseline}`, a ratio of "
        f"means), at least {detection.threshold_ratio:g} (floor {detection.floor:g}); "
        f"{detection.absolute_threshold:g} while there is under {detection.baseline_min_history} of history.",
        f"Needs at least {detection.min_denominator:g} of `{detection.denominator.metric}` and "
        f"{detection.min_events:g} events in {detection.window}; `for` {detection.for_}, keeps firing "
        f"{detection.keep_firing_for}.",
    ]


def _contain(playbook: ContainmentPlaybook | None, severity: str) -> list[str]:
    if playbook is None:
        return ["No default playbook for this incident type: choose the action by hand.", _UNCERTAIN]
    how = {
        PlaybookMode.AUTO: "The receiver applies it when the alert arrives; confirm it took effect",
        PlaybookMode.APPROVE: "The receiver records it as pending: approve it",
        PlaybookMode.DRY_RUN: "The receiver only records it (dry run): apply it by hand",
    }[playbook.mode_for(severity)]
    secondary = ", ".join(f"`{a.value}`" for a in playbook.secondary_actions) or "none"
    return [
        f"Primary action: `{playbook.primary_action.value}`; then: {secondary} "
        f"({'applied too' if playbook.auto_secondary else 'by hand'}). {playbook.description}.",
        f"{how} (`{CLI} containment status`).",
        _UNCERTAIN,
    ]


def signal_section(signal: MonitoringSignal, links: Links) -> str:
    detections = [d for d in (signal.spike, signal.any_increase) if d is not None]
    alerts = ", ".join(f"`{d.alertname}`" for d in detections)
    lines = [
        f'<a id="{signal.runbook_anchor}"></a>',
        f"## {signal.name}",
        "",
        f"{signal.description}. Priority **{signal.severity.value}** (alert label `severity` "
        f"{signal.alert_severity}), incident type `{signal.incident_type}`, alerts {alerts}.",
    ]
    if signal.rationale:
        lines += ["", f"Why: {signal.rationale}"]
    lines += ["", "### DETECT", f"1. Alert fires on `{signal.metric_name}`: {signal.detection_method}."]
    lines += [f"   - {text}" for d in detections for text in _thresholds(signal, d)]
    lines += [
        "2. Acknowledge in the on-call system.",
        f"3. Is it a false positive? Compare with the 7-day baseline on the [dashboard]({links.dashboard(signal)}).",
        "",
        "### CONTAIN" + (" (within 15 minutes of the alert)" if signal.severity is AlertSeverity.P1 else ""),
    ]
    lines += [f"{i}. {text}" for i, text in enumerate(_contain(playbook_for(signal), signal.severity.value), start=4)]
    lines += ["", "Then follow [every incident](#every-incident).", ""]
    return "\n".join(lines)


def render(signals: list[MonitoringSignal], links: Links) -> str:
    rows = [
        f"| [{s.name}](#{s.runbook_anchor}) | {', '.join(s.alertnames)} | {s.severity.value} | {s.incident_type} |"
        for s in signals
    ]
    head = [
        "# AI incident runbook",
        "",
        f"<!-- {HEADER} -->",
        "",
        "Every alert of otel-ai-incident links here (`runbook_url`). Containment comes before investigation: "
        "a P1 is contained within 15 minutes of the alert.",
        "",
        f"Start on the [dashboard]({links.dashboard()}): its top row shows which AI alerts are pending or firing "
        "and which containment actions are in force, by action; on every panel, annotations mark when an AI alert "
        "fired and when containment was applied or lifted (toggle them at the top of the dashboard).",
        "",
        "| signal | alerts | priority | incident type |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
    return "\n".join([*head, *(signal_section(s, links) for s in signals), COMMON])

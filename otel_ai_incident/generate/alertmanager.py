"""An example Alertmanager configuration that delivers the generated alerts to the webhook receiver.

Routing is by priority (timings) with one child route per signal, so a team can move one signal to another
receiver by editing a single route. The comments in the output explain the timings; they are part of the
example, as Alertmanager has nowhere else to keep them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from otel_ai_incident import names
from otel_ai_incident.generate.output import to_yaml
from otel_ai_incident.signals import DEFAULT_TARGET_LABELS, AlertSeverity, MonitoringSignal

RECEIVER = "otel-ai-incident"
WEBHOOK_URL = "http://127.0.0.1:8080/alertmanager"
CREDENTIALS_FILE = "/etc/otel-ai-incident/webhook.token"
ALERT_KEYS = ("alertname", names.ALERT_LABEL_SIGNAL)


@dataclass(frozen=True)
class Timing:
    group_wait: str
    group_interval: str
    repeat_interval: str


TIMINGS: dict[AlertSeverity, Timing] = {
    AlertSeverity.P1: Timing("10s", "1m", "1h"),
    AlertSeverity.P2: Timing("30s", "5m", "4h"),
    AlertSeverity.P3: Timing("1m", "10m", "12h"),
}


def group_by(signals: Sequence[MonitoringSignal]) -> tuple[str, ...]:
    """The alert and the target labels its rules keep (namespace, job, ...): one group per alert and service."""
    targets = (label for signal in signals for label in signal.target_labels) if signals else DEFAULT_TARGET_LABELS
    return (*ALERT_KEYS, *dict.fromkeys(targets))


COMMENT = """\
Example: copy, then set the receiver URL and the token file. Check with: amtool check-config <file>.
Grouping by {group_by}: one notification group, hence one incident in the receiver
(it keys incidents on groupKey), per alert and service; the models or tools of one alert share it.
Each signal has its route, timed by its `priority` label (the catalogue's p1, p2, p3); the `severity` label
carries critical, warning or info for the routes and silences a cluster already has.
Timings by priority:
- group_wait: p1 10s, enough to batch the alerts of one rule evaluation, well inside the 15 minutes in which
  a P1 must be contained; p2 30s, p3 1m.
- group_interval: p1 1m, so alerts that join a P1 group reach the receiver within a minute; Alertmanager
  also cancels a webhook request after group_interval, and the receiver answers at once and acts later.
- repeat_interval: p1 1h, p2 4h, p3 12h. A repeat re-applies containment if the receiver lost it; the
  receiver is idempotent (fingerprint + startsAt + status), so repeats and HA duplicates are harmless.
send_resolved: true lets the receiver close incidents and record when an alert stopped.
No inhibit rules: the receiver is what acts on every alert, and a p2 alert muted behind a p1 of the same
incident type would leave its own playbook (other users, another tool) unapplied."""


def _route(signal: MonitoringSignal, timings: dict[AlertSeverity, Timing]) -> dict[str, Any]:
    timing = timings[signal.severity]
    return {
        "receiver": RECEIVER,
        "matchers": [f'{names.ALERT_LABEL_SIGNAL}="{signal.name}"'],
        "group_wait": timing.group_wait,
        "group_interval": timing.group_interval,
        "repeat_interval": timing.repeat_interval,
    }


def config(
    signals: list[MonitoringSignal],
    *,
    urls: Sequence[str] = (WEBHOOK_URL,),
    credentials_file: str = CREDENTIALS_FILE,
    timings: dict[AlertSeverity, Timing] = TIMINGS,
) -> dict[str, Any]:
    """The Alertmanager configuration: the example's by default; the demo passes its receivers and timings.

    Several `urls` (receivers side by side) each get every notification: one receiver down does not hold
    up the others, and the receivers act once between them."""
    default = timings[AlertSeverity.P2]
    return {
        "route": {
            "receiver": RECEIVER,
            "group_by": list(group_by(signals)),
            "group_wait": default.group_wait,
            "group_interval": default.group_interval,
            "repeat_interval": default.repeat_interval,
            "routes": [_route(signal, timings) for signal in signals],
        },
        "receivers": [
            {
                "name": RECEIVER,
                "webhook_configs": [
                    {
                        "url": url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials_file": credentials_file}},
                    }
                    for url in urls
                ],
            }
        ],
    }


def render(signals: list[MonitoringSignal]) -> str:
    return to_yaml(config(signals), COMMENT.format(group_by=", ".join(group_by(signals))))

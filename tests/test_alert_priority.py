"""The receiver reads an alert's priority from the current labels (`priority` p1..p3 and a conventional
`severity`) and from rule files generated before `priority` existed (p1..p3 in `severity`)."""

from __future__ import annotations

import pytest

from otel_ai_incident.containment.playbooks import DEFAULT_PLAYBOOKS, PlaybookMode
from otel_ai_incident.server.alertmanager import Alert


def _alert(labels: dict[str, str]) -> Alert:
    return Alert.model_validate(
        {
            "status": "firing",
            "labels": {"alertname": "PiiDetectionInOutput", "incident_type": "data_leakage", **labels},
            "annotations": {},
            "startsAt": "2025-01-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "fp1",
        }
    )


@pytest.mark.parametrize(
    "labels, priority",
    [
        ({"priority": "p1", "severity": "critical"}, "p1"),  # rules generated now
        ({"priority": "p2", "severity": "critical"}, "p2"),  # severity_levels mapped p2 to critical
        ({"severity": "p1"}, "p1"),  # a rule file generated before `priority` existed
        ({"severity": "warning"}, "p2"),  # a conventional severity alone
        ({"severity": "info"}, "p3"),
        ({"severity": "page"}, None),
        ({}, None),
    ],
)
def test_priority_is_read_from_either_label_form(labels: dict[str, str], priority: str | None) -> None:
    alert = _alert(labels)
    assert alert.severity == priority
    [playbook] = [p for p in DEFAULT_PLAYBOOKS if p.incident_type == "data_leakage"]
    assert playbook.mode is None  # the mode follows the priority
    assert playbook.mode_for(alert.severity) is (PlaybookMode.AUTO if priority == "p1" else PlaybookMode.APPROVE)

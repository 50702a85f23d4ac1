"""Which containment playbook a signal's alert sets off: the join of signals and playbooks, kept here above both.

Signals name an incident type and playbooks are keyed by one; neither package knows the other. The rules'
descriptions and the runbook's CONTAIN steps describe the default playbooks through this one lookup.
"""

from __future__ import annotations

from otel_ai_incident.containment.playbooks import ContainmentPlaybook, playbooks_by_incident_type
from otel_ai_incident.signals import MonitoringSignal

_BY_INCIDENT_TYPE = playbooks_by_incident_type()


def playbook_for(signal: MonitoringSignal) -> ContainmentPlaybook | None:
    """The playbook the receiver runs for the signal's incident type, or None: contain by hand (see the runbook)."""
    return _BY_INCIDENT_TYPE.get(signal.incident_type)

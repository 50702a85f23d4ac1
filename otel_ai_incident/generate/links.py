"""Where alerts point: the runbook section and the dashboard panel of their signal.

Both bases are configurable because only the user knows where the runbook is published and where Grafana
runs; the defaults are a repository-relative path and a Grafana-relative path.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_ai_incident.signals import MonitoringSignal

DASHBOARD_UID = "ai-incident-overview"
DASHBOARD_SLUG = "ai-incident-overview"
DEFAULT_RUNBOOK_BASE = "docs/runbook.md"
DEFAULT_GRAFANA_BASE = ""


@dataclass(frozen=True)
class Links:
    runbook_base: str = DEFAULT_RUNBOOK_BASE
    grafana_base: str = DEFAULT_GRAFANA_BASE

    def runbook(self, signal: MonitoringSignal) -> str:
        return f"{self.runbook_base}#{signal.runbook_anchor}"

    def dashboard(self, signal: MonitoringSignal | None = None) -> str:
        url = f"{self.grafana_base.rstrip('/')}/d/{DASHBOARD_UID}/{DASHBOARD_SLUG}"
        return url if signal is None else f"{url}?viewPanel={signal.dashboard_panel}"

"""A real Prometheus scrapes the example bot and finds every series by its contract name."""

from __future__ import annotations

from urllib.parse import urlparse

from conftest import find_binary
from otel_ai_incident import names
from otel_ai_incident.demo.services import Prometheus
from processes import support_bot, wait_until


def test_prometheus_scrapes_contract_series_from_the_example() -> None:
    find_binary("prometheus")
    with support_bot("--turns", "120", "--reports", "2") as summary, Prometheus() as prometheus:
        target = urlparse(summary["metrics_url"]).netloc
        prometheus.start({"support-bot": [target]})
        wait_until(lambda: prometheus.query('up{job="support-bot"} == 1'), timeout=30)
        for spec in names.METRICS:
            if spec is names.INSTRUMENTATION_ERRORS:  # no internal errors, no series
                continue
            series = spec.prometheus + ("_count" if spec.kind is names.InstrumentKind.HISTOGRAM else "")
            result = wait_until(lambda s=series: prometheus.query(f'{s}{{job="support-bot"}}'), timeout=15)
            assert all(r["metric"]["instance"] == target for r in result)
        turns = prometheus.query('sum(ai_turns_total{job="support-bot",outcome="ok"})')
        assert float(turns[0]["value"][1]) == 120
        blocks = prometheus.query(
            'sum(ai_guardrail_decisions_total{job="support-bot",stage="output",decision="block"})'
        )
        assert float(blocks[0]["value"][1]) == summary["kinds"].get("jailbreak", 0)

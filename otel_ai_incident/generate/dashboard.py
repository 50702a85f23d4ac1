"""The Grafana overview dashboard, built with grafana-foundation-sdk from the same catalogue as the rules.

At the top, what fires and what is contained now (see `incident_views`, which also annotates every panel with
alerts firing and containment applied or lifted). Then one row per signal shows the current ratio, its 7-day
baseline and the alert threshold (all recording rules, so the panel shows exactly what the alert compares),
then rows for traffic (turns, latency, tokens) and for containment and prompt-log health. `panel_queries()`
and `annotation_queries()` list every query so a test can run each one against a real Prometheus.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, VariableRefresh

from otel_ai_incident import names
from otel_ai_incident.generate import grafana_panels as grafana
from otel_ai_incident.generate import incident_views
from otel_ai_incident.generate.links import DASHBOARD_UID, Links
from otel_ai_incident.generate.output import HEADER
from otel_ai_incident.generate.panel_spec import (
    JOB_VAR,
    MODEL_LABEL,
    MODEL_VAR,
    NAMESPACE_VAR,
    PanelSpec,
    Query,
    legend,
    scoped,
)
from otel_ai_incident.generate.promql import AnyIncreaseQueries, SpikeQueries
from otel_ai_incident.signals import JOB_LABEL, NAMESPACE_LABEL, MonitoringSignal

TOKEN_TYPE_LABEL = names.GEN_AI_TOKEN_TYPE.replace(".", "_")
RATE_INTERVAL = "$__rate_interval"
LATENCY_QUANTILES = (0.5, 0.95, 0.99)
ROW_ID_OFFSET = 1000  # row ids, clear of the signals' panel ids (multiples of 10)
FIXED_PANEL_IDS = 900  # traffic and containment panels, after every signal's
INCIDENTS_ROW = "Now: AI alerts and containment in force"


def signal_panels(signal: MonitoringSignal, links: Links) -> list[PanelSpec]:
    runbook = ("Runbook", links.runbook(signal))
    panels = []
    if signal.spike is not None:
        q = SpikeQueries(signal, signal.spike)
        ratios = [Query(scoped(q.ratio(w), q.labels), legend(q.labels, f"ratio {w}")) for w in signal.spike.windows]
        panels.append(
            PanelSpec(
                signal.dashboard_panel,
                f"{signal.name}: ratio, baseline, threshold",
                f"{signal.description}. {signal.detection_method}.",
                "percentunit",
                (
                    *ratios,
                    Query(scoped(q.baseline, q.labels), legend(q.labels, "baseline")),
                    Query(scoped(q.threshold, q.labels), legend(q.labels, "threshold")),
                ),
                runbook,
            )
        )
    if signal.any_increase is not None:
        a = AnyIncreaseQueries(signal, signal.any_increase)
        panels.append(
            PanelSpec(
                signal.dashboard_panel + (1 if signal.spike is not None else 0),
                f"{signal.any_increase.alertname}: events (any is an alert)",
                f"{signal.description}. Events of {signal.any_increase.selector} per {signal.any_increase.window}.",
                "short",
                (Query(scoped(a.events, a.labels), legend(a.labels, "events")),),
                runbook,
            )
        )
    return panels


def _rate(metric: str, labels: Iterable[str], by: str, extra: str = "") -> str:
    return f"sum by ({by}) (rate({scoped(metric, labels, extra)}[{RATE_INTERVAL}]))"


def _token_queries(generation: names.Generation) -> tuple[Query, ...]:
    """Tokens per second by type: one histogram's sums by gen_ai.token.type, or a counter per type."""
    if generation.token_type_attribute:
        tokens = generation.input_tokens
        by_type = _rate(tokens.prometheus + "_sum", tokens.labels, TOKEN_TYPE_LABEL)
        return (Query(by_type, f"{{{{{TOKEN_TYPE_LABEL}}}}}"),)
    return tuple(
        Query(f"sum(rate({scoped(spec.prometheus, spec.labels)}[{RATE_INTERVAL}]))", kind)
        for spec, kind in (
            (generation.input_tokens, names.TOKEN_TYPE_INPUT),
            (generation.output_tokens, names.TOKEN_TYPE_OUTPUT),
        )
    )


def traffic_panels(generation: names.Generation = names.DEFAULT_GENERATION) -> list[PanelSpec]:
    """Turns, model-call latency and tokens, under the metric names of the selected convention generation."""
    turns, duration = names.TURNS, generation.duration
    latency = tuple(
        Query(
            f"histogram_quantile({q:g}, {_rate(duration.prometheus + '_bucket', duration.labels, 'le')})",
            f"p{q * 100:g}",
        )
        for q in LATENCY_QUANTILES
    )
    return [
        PanelSpec(
            FIXED_PANEL_IDS + 1,
            "Turns per second by outcome",
            "LLM turns, by outcome (ok, error, contained).",
            "reqps",
            (Query(_rate(turns.prometheus, turns.labels, names.OUTCOME), f"{{{{{names.OUTCOME}}}}}"),),
        ),
        PanelSpec(FIXED_PANEL_IDS + 2, "Model-call latency", f"Quantiles of {duration.name}.", "s", latency),
        PanelSpec(
            FIXED_PANEL_IDS + 3, "Tokens per second", "Tokens used, by token type.", "short", _token_queries(generation)
        ),
    ]


def containment_panels() -> list[PanelSpec]:
    enforced, dropped = names.CONTAINMENT_ENFORCED, names.PROMPT_LOG_DROPPED
    return [
        PanelSpec(
            FIXED_PANEL_IDS + 5,
            "Containment enforcements per second",
            "Times the gate refused or changed something because of containment.",
            "ops",
            (Query(_rate(enforced.prometheus, enforced.labels, names.ACTION), f"{{{{{names.ACTION}}}}}"),),
        ),
        PanelSpec(
            FIXED_PANEL_IDS + 6,
            "Prompt-log entries dropped per second",
            "Dropped entries cannot be replayed in an investigation: any is worth a look.",
            "ops",
            (Query(_rate(dropped.prometheus, dropped.labels, names.REASON), f"{{{{{names.REASON}}}}}"),),
        ),
    ]


def sections(
    signals: list[MonitoringSignal], links: Links, generation: names.Generation = names.DEFAULT_GENERATION
) -> list[tuple[str, list[PanelSpec]]]:
    """Rows in display order: what fires and what is contained now, one per signal, traffic, containment."""
    rows = [(f"{s.name} ({s.severity.value}, {s.incident_type})", signal_panels(s, links)) for s in signals]
    return [
        (INCIDENTS_ROW, incident_views.incident_panels(signals)),
        *rows,
        ("Traffic", traffic_panels(generation)),
        ("Containment and prompt log", containment_panels()),
    ]


def panel_queries(
    signals: list[MonitoringSignal], links: Links, generation: names.Generation = names.DEFAULT_GENERATION
) -> list[str]:
    return [q.expr for _, panels in sections(signals, links, generation) for p in panels for q in p.queries]


def annotation_queries(signals: list[MonitoringSignal]) -> list[str]:
    return [a.expr for a in incident_views.annotations(signals)]


def as_grafana_sends(
    expr: str,
    *,
    namespace: str = ".*",
    job: str = ".*",
    model: str = ".*",
    rate_interval: str = "5m",
    interval: str = "1m",
) -> str:
    """A panel's or annotation's query with the dashboard's variables filled in, as Grafana would send it to
    Prometheus; `interval` is the step of the query (Grafana's `$__interval`)."""
    variables = ((RATE_INTERVAL, rate_interval), (incident_views.STEP, interval), (f"${NAMESPACE_VAR}", namespace))
    for variable, value in (*variables, (f"${JOB_VAR}", job), (f"${MODEL_VAR}", model)):
        expr = expr.replace(variable, value)
    return expr


def _variables() -> list[Any]:
    turns = names.TURNS.prometheus
    return [
        gdash.DatasourceVariable(grafana.DATASOURCE_VAR).label("Data source").type("prometheus"),
        # "All" is any value, the empty one included: series scraped without a namespace still show.
        gdash.QueryVariable(NAMESPACE_VAR)
        .label("Namespace")
        .datasource(grafana.DATASOURCE)
        .query(f"label_values({turns}, {NAMESPACE_LABEL})")
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED),
        gdash.QueryVariable(JOB_VAR)
        .label("Job")
        .datasource(grafana.DATASOURCE)
        .query(f'label_values({turns}{{{NAMESPACE_LABEL}=~"${NAMESPACE_VAR}"}}, {JOB_LABEL})')
        .multi(True)
        .include_all(True)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED),
        gdash.QueryVariable(MODEL_VAR)
        .label("Model")
        .datasource(grafana.DATASOURCE)
        .query(
            f'label_values({turns}{{{NAMESPACE_LABEL}=~"${NAMESPACE_VAR}",{JOB_LABEL}=~"${JOB_VAR}"}}, {MODEL_LABEL})'
        )
        .multi(True)
        .include_all(True)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED),
    ]


def build(
    signals: list[MonitoringSignal], links: Links, generation: names.Generation = names.DEFAULT_GENERATION
) -> dict[str, Any]:
    board = (
        gdash.Dashboard("AI incidents: overview")
        .uid(DASHBOARD_UID)
        .tags(["ai-incident", "generated"])
        .description(HEADER)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .link(gdash.DashboardLink("Runbook").type(DashboardLinkType.LINK).url(links.runbook_base))
    )
    for variable in _variables():
        board.with_variable(variable)
    for title, panels in sections(signals, links, generation):
        board.with_row(gdash.Row(title).id(ROW_ID_OFFSET + panels[0].id))
        for spec in panels:
            board.with_panel(grafana.panel(spec, 24 // len(panels) if len(panels) < 4 else 8))
    specs = incident_views.annotations(signals)
    for spec in specs:
        board.annotation(grafana.annotation(spec))
    model = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for query, spec in zip(model["annotations"]["list"], specs, strict=True):
        query.update(grafana.annotation_formats(spec))
    return model


def render(
    signals: list[MonitoringSignal], links: Links, generation: names.Generation = names.DEFAULT_GENERATION
) -> str:
    """The dashboard JSON; its model-call panels query `generation`'s metric names."""
    return json.dumps(build(signals, links, generation), indent=2, sort_keys=True) + "\n"

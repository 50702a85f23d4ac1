"""The Grafana overview dashboard, built with grafana-foundation-sdk from the same catalogue as the rules.

One row per signal shows the current ratio, its 7-day baseline and the alert threshold (all recording rules,
so the panel shows exactly what the alert compares), then rows for traffic (turns, latency, tokens) and for
containment and prompt-log health. `panel_queries()` lists every query so a test can run each one against a
real Prometheus.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, DataSourceRef, VariableRefresh

from otel_ai_incident import names
from otel_ai_incident.generate.links import DASHBOARD_UID, Links
from otel_ai_incident.generate.output import HEADER
from otel_ai_incident.generate.promql import AnyIncreaseQueries, SpikeQueries
from otel_ai_incident.signals import JOB_LABEL, NAMESPACE_LABEL, MonitoringSignal

DATASOURCE_VAR = "datasource"
NAMESPACE_VAR = "namespace"
JOB_VAR = "job"
MODEL_VAR = "model"
MODEL_LABEL = names.GEN_AI_REQUEST_MODEL.replace(".", "_")
TOKEN_TYPE_LABEL = names.GEN_AI_TOKEN_TYPE.replace(".", "_")
RATE_INTERVAL = "$__rate_interval"
LATENCY_QUANTILES = (0.5, 0.95, 0.99)
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VAR}}}")
ROW_ID_OFFSET = 1000  # row ids, clear of the signals' panel ids (multiples of 10)
FIXED_PANEL_IDS = 900  # traffic and containment panels, after every signal's


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    """What a panel shows, independent of Grafana's JSON, so tests can run its queries."""

    id: int
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    link: tuple[str, str] | None = None  # (title, url)


def scoped(metric: str, labels: Iterable[str], extra: str = "") -> str:
    """`metric` narrowed to the dashboard's namespace and job variables, and model variable where the series
    has the label."""
    matchers = [f'{NAMESPACE_LABEL}=~"${NAMESPACE_VAR}"', f'{JOB_LABEL}=~"${JOB_VAR}"']
    if MODEL_LABEL in labels:
        matchers.append(f'{MODEL_LABEL}=~"${MODEL_VAR}"')
    return f"{metric}{{{','.join([*matchers, *filter(None, [extra])])}}}"


def _legend(labels: Iterable[str], what: str) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels) + f" {what}"


def signal_panels(signal: MonitoringSignal, links: Links) -> list[PanelSpec]:
    runbook = ("Runbook", links.runbook(signal))
    panels = []
    if signal.spike is not None:
        q = SpikeQueries(signal, signal.spike)
        ratios = [Query(scoped(q.ratio(w), q.labels), _legend(q.labels, f"ratio {w}")) for w in signal.spike.windows]
        panels.append(
            PanelSpec(
                signal.dashboard_panel,
                f"{signal.name}: ratio, baseline, threshold",
                f"{signal.description}. {signal.detection_method}.",
                "percentunit",
                (
                    *ratios,
                    Query(scoped(q.baseline, q.labels), _legend(q.labels, "baseline")),
                    Query(scoped(q.threshold, q.labels), _legend(q.labels, "threshold")),
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
                (Query(scoped(a.events, a.labels), _legend(a.labels, "events")),),
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
    active, enforced, dropped = names.CONTAINMENT_ACTIVE, names.CONTAINMENT_ENFORCED, names.PROMPT_LOG_DROPPED
    return [
        PanelSpec(
            FIXED_PANEL_IDS + 4,
            "Containment actions in force",
            "ai.containment.active by action.",
            "short",
            (
                Query(
                    f"max by ({names.ACTION}) ({scoped(active.prometheus, active.labels)})", f"{{{{{names.ACTION}}}}}"
                ),
            ),
        ),
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
    """Rows in display order: one per signal, then traffic, then containment."""
    rows = [(f"{s.name} ({s.severity.value}, {s.incident_type})", signal_panels(s, links)) for s in signals]
    return [*rows, ("Traffic", traffic_panels(generation)), ("Containment and prompt log", containment_panels())]


def panel_queries(
    signals: list[MonitoringSignal], links: Links, generation: names.Generation = names.DEFAULT_GENERATION
) -> list[str]:
    return [q.expr for _, panels in sections(signals, links, generation) for p in panels for q in p.queries]


def as_grafana_sends(
    expr: str, *, namespace: str = ".*", job: str = ".*", model: str = ".*", rate_interval: str = "5m"
) -> str:
    """A panel's query with the dashboard's variables filled in, as Grafana would send it to Prometheus."""
    variables = ((RATE_INTERVAL, rate_interval), (f"${NAMESPACE_VAR}", namespace), (f"${JOB_VAR}", job))
    for variable, value in (*variables, (f"${MODEL_VAR}", model)):
        expr = expr.replace(variable, value)
    return expr


def _panel(spec: PanelSpec, width: int) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(spec.id)
        .title(spec.title)
        .description(spec.description)
        .unit(spec.unit)
        .datasource(DATASOURCE)
        .height(8)
        .span(width)
    )
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        panel.with_target(prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref))
    if spec.link is not None:
        panel.links([gdash.DashboardLink(spec.link[0]).type(DashboardLinkType.LINK).url(spec.link[1])])
    return panel


def _variables() -> list[Any]:
    turns = names.TURNS.prometheus
    return [
        gdash.DatasourceVariable(DATASOURCE_VAR).label("Data source").type("prometheus"),
        # "All" is any value, the empty one included: series scraped without a namespace still show.
        gdash.QueryVariable(NAMESPACE_VAR)
        .label("Namespace")
        .datasource(DATASOURCE)
        .query(f"label_values({turns}, {NAMESPACE_LABEL})")
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED),
        gdash.QueryVariable(JOB_VAR)
        .label("Job")
        .datasource(DATASOURCE)
        .query(f'label_values({turns}{{{NAMESPACE_LABEL}=~"${NAMESPACE_VAR}"}}, {JOB_LABEL})')
        .multi(True)
        .include_all(True)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED),
        gdash.QueryVariable(MODEL_VAR)
        .label("Model")
        .datasource(DATASOURCE)
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
            board.with_panel(_panel(spec, 24 // len(panels) if len(panels) < 4 else 8))
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def render(
    signals: list[MonitoringSignal], links: Links, generation: names.Generation = names.DEFAULT_GENERATION
) -> str:
    """The dashboard JSON; its model-call panels query `generation`'s metric names."""
    return json.dumps(build(signals, links, generation), indent=2, sort_keys=True) + "\n"

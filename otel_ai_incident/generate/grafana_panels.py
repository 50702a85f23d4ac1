"""Grafana's JSON for a `PanelSpec` (time series or state timeline) and an `AnnotationSpec`.

Every panel and annotation queries the Prometheus picked in the dashboard's data-source variable.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus, statetimeline, timeseries
from grafana_foundation_sdk.models.common import VisibilityMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DashboardRangeMapOptions,
    DataSourceRef,
    RangeMap,
    ValueMappingResult,
)

from otel_ai_incident.generate.panel_spec import AnnotationSpec, PanelKind, PanelSpec, State

DATASOURCE_VAR = "datasource"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VAR}}}")
PANEL_HEIGHT = 8

_PANEL_BUILDERS = {PanelKind.TIMESERIES: timeseries.Panel, PanelKind.STATE_TIMELINE: statetimeline.Panel}


def _mapping(state: State) -> RangeMap:
    return RangeMap(DashboardRangeMapOptions(state.low, state.high, ValueMappingResult(state.text, state.color)))


def panel(spec: PanelSpec, width: int) -> timeseries.Panel | statetimeline.Panel:
    built = (
        _PANEL_BUILDERS[spec.kind]()
        .id(spec.id)
        .title(spec.title)
        .description(spec.description)
        .unit(spec.unit)
        .datasource(DATASOURCE)
        .height(PANEL_HEIGHT)
        .span(width)
    )
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        built.with_target(prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref))
    if spec.link is not None:
        built.links([gdash.DashboardLink(spec.link[0]).type(DashboardLinkType.LINK).url(spec.link[1])])
    if isinstance(built, statetimeline.Panel):
        # Gaps stay gaps (no alert, no series): merging equal neighbours keeps one bar per episode.
        built.mappings([_mapping(s) for s in spec.states]).show_value(VisibilityMode.AUTO).merge_values(True)
    return built


def annotation(spec: AnnotationSpec) -> gdash.AnnotationQuery:
    return (
        gdash.AnnotationQuery()
        .name(spec.name)
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color(spec.color)
        .expr(spec.expr)
    )


def annotation_formats(spec: AnnotationSpec) -> dict[str, Any]:
    """The Prometheus annotation's fields the SDK's generic model has no builder for: Grafana names each event
    from the series' labels and turns the `tagKeys` labels into tags."""
    return {
        "titleFormat": spec.title,
        "textFormat": spec.text,
        "tagKeys": ",".join(spec.tags),
        "useValueForTime": False,
    }

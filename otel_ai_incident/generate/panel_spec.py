"""What a dashboard panel or annotation shows, apart from Grafana's JSON, so tests can run every query.

The dashboard's variables and `scoped()`, which narrows a series to them, live here too: every view of the
dashboard (a signal's row, the traffic, the incidents at the top) filters by the same namespace and job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from otel_ai_incident import names
from otel_ai_incident.signals import JOB_LABEL, NAMESPACE_LABEL

NAMESPACE_VAR = "namespace"
JOB_VAR = "job"
MODEL_VAR = "model"
MODEL_LABEL = names.GEN_AI_REQUEST_MODEL.replace(".", "_")


class PanelKind(StrEnum):
    TIMESERIES = "timeseries"
    STATE_TIMELINE = "state-timeline"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class State:
    """Values from `low` to `high` (None: no upper bound) shown as `text` (None: the value) in `color`."""

    low: float
    high: float | None
    text: str | None
    color: str


@dataclass(frozen=True)
class PanelSpec:
    """What a panel shows, independent of Grafana's JSON, so tests can run its queries."""

    id: int
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    link: tuple[str, str] | None = None  # (title, url)
    kind: PanelKind = PanelKind.TIMESERIES
    states: tuple[State, ...] = ()  # how a state timeline names and colours its values


@dataclass(frozen=True)
class AnnotationSpec:
    """A Prometheus annotation: each series of `expr` marks the times it is above 0 (one region while it
    stays there), titled and described from the series' labels (Grafana's `{{label}}` legend format)."""

    name: str
    expr: str
    title: str
    text: str
    tags: tuple[str, ...]  # labels whose values become the annotation's tags
    color: str


def scoped(metric: str, labels: Iterable[str], extra: str = "") -> str:
    """`metric` narrowed to the dashboard's namespace and job variables, and model variable where the series
    has the label."""
    matchers = [f'{NAMESPACE_LABEL}=~"${NAMESPACE_VAR}"', f'{JOB_LABEL}=~"${JOB_VAR}"']
    if MODEL_LABEL in labels:
        matchers.append(f'{MODEL_LABEL}=~"${MODEL_VAR}"')
    return f"{metric}{{{','.join([*matchers, *filter(None, [extra])])}}}"


def legend(labels: Iterable[str], what: str = "") -> str:
    """Grafana's legend format naming each of `labels`, then `what`."""
    return " ".join([*(f"{{{{{label}}}}}" for label in labels), *filter(None, [what])])

"""SummedCounter: what an exporter reads must be what a synchronous OpenTelemetry counter would report."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from otel_ai_incident import names
from otel_ai_incident.telemetry.counters import SummedCounter, summed_counter


def _points(reader: InMemoryMetricReader, name: str) -> dict[frozenset, float]:
    data = reader.get_metrics_data()
    return {
        frozenset(point.attributes.items()): point.value
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == name
        for point in metric.data.data_points
    }


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def counter(reader: InMemoryMetricReader) -> SummedCounter:
    return summed_counter(MeterProvider(metric_readers=[reader]).get_meter("test"), names.TURNS)


def test_a_second_request_on_the_same_meter_keeps_counting_into_the_reported_sums(reader) -> None:
    # The SDK keeps only the first callback registered under a name: a second, separate counter on the same
    # meter (instrument() set up again on the app's provider) would count into sums nobody reports.
    provider = MeterProvider(metric_readers=[reader])
    summed_counter(provider.get_meter("test"), names.TURNS).add(1, {"outcome": "ok"})
    again = summed_counter(provider.get_meter("test"), names.TURNS)
    again.add(1, {"outcome": "ok"})
    assert _points(reader, names.TURNS.name) == {frozenset({("outcome", "ok")}): 2}
    other = summed_counter(provider.get_meter("other"), names.TURNS)
    assert other is not again


def test_sums_by_attribute_set_whatever_the_key_order(counter: SummedCounter, reader) -> None:
    counter.add(1, {"gen_ai.request.model": "m", "outcome": "ok"})
    counter.add(2, {"outcome": "ok", "gen_ai.request.model": "m"})
    counter.add(0, {"gen_ai.request.model": "m", "outcome": "error"})
    points = _points(reader, names.TURNS.name)
    assert points == {
        frozenset({("gen_ai.request.model", "m"), ("outcome", "ok")}): 3,
        frozenset({("gen_ai.request.model", "m"), ("outcome", "error")}): 0,
    }


def test_is_cumulative_and_monotonic_across_collections(counter: SummedCounter, reader) -> None:
    counter.add(1, {"outcome": "ok"})
    assert _points(reader, names.TURNS.name) == {frozenset({("outcome", "ok")}): 1}
    counter.add(4, {"outcome": "ok"})
    assert _points(reader, names.TURNS.name) == {frozenset({("outcome", "ok")}): 5}
    [metric] = [
        m
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == names.TURNS.name
    ]
    assert metric.data.is_monotonic


def test_rejects_a_negative_amount_and_keeps_the_sum(counter: SummedCounter, reader) -> None:
    counter.add(2, {"outcome": "ok"})
    with pytest.raises(ValueError):
        counter.add(-1, {"outcome": "ok"})
    assert _points(reader, names.TURNS.name) == {frozenset({("outcome", "ok")}): 2}


def test_loses_no_increment_under_concurrent_adds(counter: SummedCounter, reader) -> None:
    attributes = {"gen_ai.request.model": "m", "outcome": "ok"}

    def add_many() -> None:
        for _ in range(20_000):
            counter.add(1, attributes)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(50):  # collections racing the adds must not disturb them
        _points(reader, names.TURNS.name)
    for thread in threads:
        thread.join()
    assert _points(reader, names.TURNS.name) == {frozenset(attributes.items()): 80_000}


def test_prometheus_exposes_the_contract_name_as_a_counter() -> None:
    registry = CollectorRegistry()
    counter = summed_counter(
        MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)]).get_meter("test"), names.TURNS
    )
    counter.add(3, {names.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", names.OUTCOME: "ok"})
    text = generate_latest(registry).decode()
    assert f"# TYPE {names.TURNS.prometheus} counter" in text
    # Exporter releases from 0.64b0 on add otel_scope_* labels; the contract's labels are the rest.
    series = [
        ({k: v for k, v in sample.labels.items() if not k.startswith("otel_scope_")}, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == names.TURNS.prometheus
    ]
    assert series == [({"gen_ai_request_model": "gpt-4o-mini", "outcome": "ok"}, 3.0)]

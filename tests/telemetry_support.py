"""In-memory OpenTelemetry pipelines for hook tests (no globals touched, so tests stay independent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_ai_incident import names
from otel_ai_incident.promptlog.entry import PromptLogEntry
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.telemetry.hooks import Runtime
from otel_ai_incident.telemetry.instruments import Instruments

TEST_KEY = b"test-pseudonym-key-0123456789abcdef"


@dataclass
class ListSink:
    """A prompt-log sink that keeps entries in a list."""

    entries: list[PromptLogEntry] = field(default_factory=list)

    def submit(self, entry: PromptLogEntry) -> None:
        self.entries.append(entry)

    def close(self, timeout: float) -> None:
        return None


@dataclass
class Pipeline:
    runtime: Runtime
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    logs_exporter: InMemoryLogRecordExporter
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider

    def events(self, name: str) -> list[dict[str, Any]]:
        """The attributes of every event (log record) with this event name."""
        return [
            dict(r.log_record.attributes or {})
            for r in self.logs_exporter.get_finished_logs()
            if r.log_record.event_name == name
        ]

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.spans()]}"
        return found[0]

    def points(self, metric: names.MetricSpec) -> dict[frozenset[tuple[str, Any]], Any]:
        """Data points of one metric keyed by their attribute set (value: sum, or the histogram point)."""
        data = self.reader.get_metrics_data()
        result: dict[frozenset[tuple[str, Any]], Any] = {}
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for m in scope_metrics.metrics:
                    if m.name != metric.name:
                        continue
                    for point in m.data.data_points:
                        key = frozenset(point.attributes.items())
                        result[key] = point.value if hasattr(point, "value") else point
        return result

    def records(self, metric_name: str) -> int:
        """How many values a histogram of this name recorded, summed over every instrumentation scope."""
        data = self.reader.get_metrics_data()
        return sum(
            point.count
            for resource_metrics in (data.resource_metrics if data else ())
            for scope_metrics in resource_metrics.scope_metrics
            for m in scope_metrics.metrics
            if m.name == metric_name
            for point in m.data.data_points
        )

    def value(self, metric: names.MetricSpec, **attributes: Any) -> Any:
        return self.points(metric).get(frozenset(attributes.items()))

    def instrument(self, instrumentor: Any, **options: Any) -> Any:
        """Turn another instrumentation (an OpenTelemetry `BaseInstrumentor`) on with this pipeline's providers."""
        instrumentor.instrument(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            logger_provider=self.logger_provider,
            skip_dep_check=True,
            **options,
        )
        return instrumentor


def make_pipeline(
    generations: tuple[names.Generation, ...] = (names.DEFAULT_GENERATION,), **runtime_kwargs: Any
) -> Pipeline:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    runtime = Runtime(
        tracer=tracer_provider.get_tracer(names.INSTRUMENTATION_SCOPE),
        instruments=Instruments(meter_provider.get_meter(names.INSTRUMENTATION_SCOPE), generations=generations),
        pseudonymizer=Pseudonymizer(TEST_KEY),
        events=logger_provider.get_logger(names.INSTRUMENTATION_SCOPE),
        **runtime_kwargs,
    )
    return Pipeline(runtime, exporter, reader, logs, tracer_provider, meter_provider, logger_provider)

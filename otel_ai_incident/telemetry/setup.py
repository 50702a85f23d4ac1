"""Tracer and meter providers, exporters and the Prometheus endpoint, from arguments and OTEL_* variables.

Providers the app installed itself are kept: we only add our instruments to them. Providers we create are
installed as the globals, so the app's own spans nest under (and around) ours. Exporting runs on background
threads with bounded timeouts, so a dead collector costs the app nothing but the dropped telemetry.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from otel_ai_incident import names
from otel_ai_incident.telemetry.events_setup import configure_events

if TYPE_CHECKING:
    from otel_ai_incident.telemetry.multiprocess import WorkerMetrics

logger = logging.getLogger("otel_ai_incident")
T = TypeVar("T")

_TRUE = {"true", "1", "yes", "on"}
SHUTDOWN_TIMEOUT = 5.0


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in _TRUE


def sdk_disabled() -> bool:
    return env_flag("OTEL_SDK_DISABLED")


@dataclass
class Providers:
    """What `configure()` set up, and what it owns (and so must shut down)."""

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    owns_tracer_provider: bool = False
    owns_meter_provider: bool = False
    logger_provider: Any = None  # where the GenAI events go (events_setup)
    owns_logger_provider: bool = False
    prometheus_server: Any = None
    worker_metrics: WorkerMetrics | None = None  # when the app runs as several worker processes
    _closed: bool = field(default=False, repr=False)

    @property
    def prometheus_address(self) -> tuple[str, int] | None:
        """Where this process serves /metrics (host, port), or None when it serves none (now)."""
        if self.worker_metrics is not None:
            return self.worker_metrics.address
        return self.prometheus_server.server_address[:2] if self.prometheus_server is not None else None

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Flush and stop what we own, waiting at most `timeout` seconds.

        The exporters retry with back-off for as long as their own timeouts allow, so against a dead collector
        a plain provider shutdown can take tens of seconds. It runs on a daemon thread instead, and the app's
        exit waits for it only this long.
        """
        if self._closed:
            return
        self._closed = True
        worker = threading.Thread(target=self._shutdown_now, name="otel-ai-incident-shutdown", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            logger.warning("otel-ai-incident: telemetry not flushed within %.1fs (collector unreachable?)", timeout)

    def _shutdown_now(self) -> None:
        if self.worker_metrics is not None:  # before the meter provider, which empties the worker's registry
            _quietly("writing this worker's final metrics", self.worker_metrics.close)
        if self.owns_tracer_provider:
            _quietly("stopping the tracer provider", self.tracer_provider.shutdown)
        if self.owns_meter_provider:
            _quietly("stopping the meter provider", self.meter_provider.shutdown)
        if self.owns_logger_provider:
            _quietly("stopping the logger provider", self.logger_provider.shutdown)
        if self.prometheus_server is not None:
            _quietly("stopping the /metrics server", self.prometheus_server.shutdown)
            self.prometheus_server.server_close()


def _quietly(what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # telemetry must never take the app down with it
        logger.warning("otel-ai-incident: error while %s", what, exc_info=True)


def _resource(service_name: str | None) -> Resource:
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; an explicit argument wins
    # over OTEL_RESOURCE_ATTRIBUTES but not over OTEL_SERVICE_NAME, as in the SDK's own configurator.
    attributes: dict[str, Any] = {}
    if service_name and not os.environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service_name
    return Resource.create(attributes)


def _otlp_protocol() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip().lower()


def _span_exporter(endpoint: str | None) -> Any:
    if _otlp_protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    if endpoint is None:
        return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_* variables
    return OTLPSpanExporter(endpoint=_signal_endpoint(endpoint, "traces"))


def _metric_exporter(endpoint: str | None) -> Any:
    if _otlp_protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    if endpoint is None:
        return OTLPMetricExporter()
    return OTLPMetricExporter(endpoint=_signal_endpoint(endpoint, "metrics"))


def _signal_endpoint(base: str, signal: str) -> str:
    """An explicit base endpoint gets the per-signal path, as OTEL_EXPORTER_OTLP_ENDPOINT does over HTTP."""
    if _otlp_protocol() == "grpc":
        return base
    return base.rstrip("/") + f"/v1/{signal}"


def _otlp_wanted(endpoint: str | None, signal: str) -> bool:
    if endpoint:
        return True
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def _app_has_provider(current: object, proxy_type: type) -> bool:
    """True when the app already set a real global provider (the API's default is a proxy)."""
    return not isinstance(current, proxy_type)


def configure(
    service_name: str | None,
    *,
    otlp_endpoint: str | None = None,
    prometheus: bool = True,
    prometheus_host: str | None = None,
    prometheus_port: int | None = None,
) -> Providers:
    """Set up tracing and metrics unless the app already did; never raise for an exporter problem."""
    from opentelemetry.metrics._internal import _ProxyMeterProvider
    from opentelemetry.trace import ProxyTracerProvider

    resource = _resource(service_name)
    current_tp = trace.get_tracer_provider()
    current_mp = metrics.get_meter_provider()
    providers = Providers(tracer_provider=current_tp, meter_provider=current_mp)

    providers.logger_provider, providers.owns_logger_provider = configure_events(resource, otlp_endpoint)
    if _app_has_provider(current_tp, ProxyTracerProvider):
        logger.info("otel-ai-incident: using the tracer provider the app installed")
    else:
        providers.tracer_provider = _new_tracer_provider(resource, otlp_endpoint)
        providers.owns_tracer_provider = True
        trace.set_tracer_provider(providers.tracer_provider)

    if _app_has_provider(current_mp, _ProxyMeterProvider):
        logger.info("otel-ai-incident: using the meter provider the app installed (no /metrics endpoint started)")
        return providers

    readers: list[Any] = []
    if prometheus:
        reader, providers.prometheus_server, providers.worker_metrics = _prometheus(prometheus_host, prometheus_port)
        if reader is not None:
            readers.append(reader)
    if _otlp_wanted(otlp_endpoint, "METRICS"):
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        try:
            readers.append(PeriodicExportingMetricReader(_metric_exporter(otlp_endpoint)))
        except Exception:
            logger.warning("otel-ai-incident: OTLP metric export not set up", exc_info=True)

    from opentelemetry.sdk.metrics import MeterProvider

    providers.meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False, exemplar_filter=_exemplar_filter()
    )
    providers.owns_meter_provider = True
    metrics.set_meter_provider(providers.meter_provider)
    if providers.worker_metrics is not None:  # once the reader can collect: a scrape may come at once
        _quietly("starting the worker metrics", providers.worker_metrics.start)
    return providers


def _exemplar_filter() -> Any:
    """No exemplars unless OTEL_METRICS_EXEMPLAR_FILTER asks for them.

    The SDK's default (trace_based) attaches one to every record made inside a sampled span, which is every
    record of a turn: about a tenth of a turn's cost, for data the Prometheus text format does not carry.
    """
    if os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER"):
        return None  # the SDK reads the variable itself
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter

    return AlwaysOffExemplarFilter()


def _new_tracer_provider(resource: Resource, otlp_endpoint: str | None) -> trace.TracerProvider:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if _otlp_wanted(otlp_endpoint, "TRACES"):
        try:
            provider.add_span_processor(BatchSpanProcessor(_span_exporter(otlp_endpoint)))
        except Exception:
            logger.warning("otel-ai-incident: OTLP span export not set up", exc_info=True)
    return provider


def _prometheus(host: str | None, port: int | None) -> tuple[Any, Any, WorkerMetrics | None]:
    """The Prometheus reader, on a registry of our own (so a second provider never collides with the default
    one), and what serves it: an HTTP server, or, when the app runs as several workers sharing a metrics
    directory, this worker's part in serving all of them (started once the meter provider exists)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    from otel_ai_incident.telemetry.metrics_dir import metrics_dir

    host = host or os.environ.get("OTEL_EXPORTER_PROMETHEUS_HOST") or "localhost"
    if port is None:
        port = env_setting("OTEL_EXPORTER_PROMETHEUS_PORT", names.DEFAULT_PROMETHEUS_PORT, _port, "a port number")
    registry = CollectorRegistry(auto_describe=True)
    directory = metrics_dir()
    if directory is not None:
        from otel_ai_incident.telemetry.multiprocess import WorkerMetrics

        _log_listening(host, port, f"one worker at a time, for all in {directory}")
        return PrometheusMetricReader(registry=registry), None, WorkerMetrics(directory, registry, host, port)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        logger.warning("otel-ai-incident: cannot serve /metrics on %s:%s (%s); metrics not exposed", host, port, exc)
        return None, None, None
    _log_listening(host, server.server_port, "this process")
    return PrometheusMetricReader(registry=registry), server, None


def _log_listening(host: str, port: int, who: str) -> None:
    """Say where /metrics is, once: on loopback (the default) no other pod or host can scrape it."""
    hint = " (loopback only: set OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0 to be scraped from another pod)"
    local = host in ("localhost", "127.0.0.1", "::1")
    logger.info("otel-ai-incident: serving /metrics on %s:%s (%s)%s", host, port, who, hint if local else "")


def env_setting(variable: str, default: T, parse: Callable[[str], T], kind: str) -> T:
    """A setting from the environment; a value `parse` refuses (ValueError) is a warning naming `kind` and the
    default, not a crash: the app starts with telemetry configured as well as it can be."""
    raw = (os.environ.get(variable) or "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        logger.warning("otel-ai-incident: %s=%r is not %s; using %s", variable, raw, kind, default)
        return default


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(raw)
    return port

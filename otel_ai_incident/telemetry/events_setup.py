"""Where the GenAI events go (`gen_ai.evaluation.result`, `gen_ai.client.inference.operation.details`).

The conventions make them log records with an event name, so they travel on OpenTelemetry's logs signal.
An app that installed a logger provider keeps it; otherwise, when OTLP is configured (the base endpoint, or
OTEL_EXPORTER_OTLP_LOGS_ENDPOINT), one is set up that exports them with the spans and metrics. Without
either, the events go nowhere, as the API's default provider does.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import _logs
from opentelemetry._logs._internal import ProxyLoggerProvider
from opentelemetry.sdk.resources import Resource

logger = logging.getLogger("otel_ai_incident")


def _protocol() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip().lower()


def _log_exporter(endpoint: str | None) -> Any:
    if _protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter() if endpoint is None else OTLPLogExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter() if endpoint is None else OTLPLogExporter(endpoint=endpoint.rstrip("/") + "/v1/logs")


def _wanted(endpoint: str | None) -> bool:
    return bool(
        endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    )


def configure_events(resource: Resource, otlp_endpoint: str | None) -> tuple[_logs.LoggerProvider, bool]:
    """The logger provider the events go to, and whether we made it (and so must shut it down)."""
    current = _logs.get_logger_provider()
    if not isinstance(current, ProxyLoggerProvider) or not _wanted(otlp_endpoint):
        return current, False
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    try:
        provider.add_log_record_processor(BatchLogRecordProcessor(_log_exporter(otlp_endpoint)))
    except Exception:
        logger.warning("otel-ai-incident: OTLP export of events not set up", exc_info=True)
    _logs.set_logger_provider(provider)
    return provider, True

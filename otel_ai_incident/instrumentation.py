"""`instrument()`: the one line an app adds. It wires telemetry, the prompt log, guardrails and the gate.

This is the composition root: the hooks only know the small protocols in `telemetry.ports`, and this module
decides which implementations stand behind them.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass

from opentelemetry import metrics, trace

from otel_ai_incident import names
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer, load_key
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.instruments import Instruments
from otel_ai_incident.telemetry.setup import SHUTDOWN_TIMEOUT, Providers, configure, env_flag, sdk_disabled

logger = logging.getLogger("otel_ai_incident")

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass
class Instrumentation:
    """What `instrument()` set up. `shutdown()` flushes and stops it; calling it twice is harmless."""

    runtime: hooks.Runtime
    providers: Providers | None

    @property
    def prometheus_address(self) -> tuple[str, int] | None:
        """Where /metrics is served (host, port), or None when this process serves none."""
        return self.providers.prometheus_address if self.providers else None

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Flush the prompt log and telemetry, waiting at most about `timeout` seconds for each."""
        global _current
        with _lock:
            if _current is self:
                _current = None
                hooks.set_runtime(None)
        if self.runtime.prompt_log is not None:
            try:
                self.runtime.prompt_log.close(timeout)
            except Exception:
                logger.warning("otel-ai-incident: prompt log did not close cleanly", exc_info=True)
        if self.providers is not None:
            self.providers.shutdown(timeout)


_lock = threading.Lock()
_current: Instrumentation | None = None


def instrument(
    service_name: str | None = None,
    *,
    otlp_endpoint: str | None = None,
    prometheus: bool = True,
    prometheus_host: str | None = None,
    prometheus_port: int | None = None,
    provider: str = hooks.DEFAULT_PROVIDER,
    capture_content: bool | None = None,
    anomaly_threshold: float = hooks.DEFAULT_ANOMALY_THRESHOLD,
) -> Instrumentation:
    """Set up spans, metrics (a Prometheus /metrics endpoint, OTLP when configured) and the hooks.

    Honours the standard OTEL_* variables (see the README). A second call returns the first handle.
    With OTEL_SDK_DISABLED=true the hooks still work but emit nothing.
    """
    global _current
    with _lock:
        if _current is not None:
            logger.debug("otel-ai-incident: instrument() called again; keeping the first set-up")
            return _current
        if sdk_disabled():
            providers = None
            tracer = trace.NoOpTracerProvider().get_tracer(names.INSTRUMENTATION_SCOPE)
            meter = metrics.NoOpMeterProvider().get_meter(names.INSTRUMENTATION_SCOPE)
        else:
            providers = configure(
                service_name, otlp_endpoint=otlp_endpoint, prometheus=prometheus,
                prometheus_host=prometheus_host, prometheus_port=prometheus_port,
            )  # fmt: skip
            tracer = providers.tracer_provider.get_tracer(names.INSTRUMENTATION_SCOPE)
            meter = providers.meter_provider.get_meter(names.INSTRUMENTATION_SCOPE)
        runtime = hooks.Runtime(
            tracer=tracer,
            instruments=Instruments(meter),
            pseudonymizer=Pseudonymizer(load_key()),
            capture_content=env_flag(ENV_CAPTURE_CONTENT) if capture_content is None else capture_content,
            provider_name=provider,
            anomaly_threshold=anomaly_threshold,
        )
        _current = Instrumentation(runtime=runtime, providers=providers)
        hooks.set_runtime(runtime)
        atexit.register(_current.shutdown)
        return _current

"""`instrument()`: the one line an app adds. It wires telemetry, the prompt log, guardrails and the gate.

This is the composition root: the hooks only know the small protocols in `telemetry.ports`, and this module
decides which implementations stand behind them.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from opentelemetry import _logs, metrics, trace

from otel_ai_incident import names
from otel_ai_incident.containment.gate import ContainmentGate, UnusableGate, fail_closed_setting, open_gate
from otel_ai_incident.guardrails.anomaly import ToolArgumentScorer
from otel_ai_incident.guardrails.output import PiiOutputGuard
from otel_ai_incident.promptlog.backends import open_store
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer, PseudonymKeyError, is_shared_log, load_key
from otel_ai_incident.promptlog.retention import Retention
from otel_ai_incident.promptlog.writer import PromptLogWriter
from otel_ai_incident.storage.urls import redacted
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.instruments import Instruments
from otel_ai_incident.telemetry.integrations import Integration
from otel_ai_incident.telemetry.integrations import load as load_integration
from otel_ai_incident.telemetry.semconv import content_capture, selected_generations
from otel_ai_incident.telemetry.setup import SHUTDOWN_TIMEOUT, Providers, configure, env_setting, sdk_disabled

logger = logging.getLogger("otel_ai_incident")


@dataclass
class Instrumentation:
    """What `instrument()` set up. `shutdown()` flushes and stops it; calling it twice is harmless."""

    runtime: hooks.Runtime
    providers: Providers | None
    anomaly_state: str | os.PathLike[str] | None = None
    integrations: list[Integration] = field(default_factory=list)

    @property
    def openai(self) -> bool:
        """Whether the OpenAI integration is on (kept for callers of the `openai=True` switch)."""
        return any(integration.name == "openai" for integration in self.integrations)

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
        while self.integrations:
            self.integrations.pop().uninstrument()
        if self.anomaly_state is not None and isinstance(self.runtime.tool_scorer, ToolArgumentScorer):
            try:
                self.runtime.tool_scorer.save(self.anomaly_state)
            except OSError:
                logger.warning("otel-ai-incident: could not save the tool-argument baseline", exc_info=True)
        if isinstance(self.runtime.gate, ContainmentGate):
            self.runtime.gate.close()
        if self.runtime.prompt_log is not None:
            try:
                self.runtime.prompt_log.close(timeout)
            except Exception:
                logger.warning("otel-ai-incident: prompt log did not close cleanly", exc_info=True)
        if self.providers is not None:
            self.providers.shutdown(timeout)


def _open_gate(url: str | None, instruments: Instruments) -> ContainmentGate | UnusableGate:
    """The containment gate, its first load awaited (at most AII_CONTAINMENT_LOAD_TIMEOUT_S); when its state
    cannot even be opened (a malformed URL), a gate that says so loudly and follows AII_CONTAINMENT_FAIL_CLOSED
    (see `containment.gate`)."""

    def count_error() -> None:
        instruments.instrumentation_errors.add(1, {names.COMPONENT: "containment_gate"})

    try:
        gate = open_gate(url, instruments=instruments, on_error=count_error)
        gate.await_first_load()  # a state that cannot be loaded is an ERROR now, while the app starts
        return gate
    except Exception as error:
        count_error()
        logger.error("otel-ai-incident: cannot open the containment state: %s", error, exc_info=True)
        return UnusableGate(str(error), fail_closed=fail_closed_setting(), on_error=count_error)


def _prompt_log_url(setting: str | bool | None) -> str | None:
    """The prompt log's URL (the argument, else AII_PROMPT_LOG, else the default), or None when it is off."""
    if setting is False:
        return None
    url = setting if isinstance(setting, str) else os.environ.get(names.ENV_PROMPT_LOG) or names.DEFAULT_PROMPT_LOG
    return None if url.strip().lower() in _OFF else url


def _pseudonym_key(prompt_log_url: str | None) -> tuple[bytes, bool]:
    """The pseudonym key, and whether the prompt log may be opened. Without a usable key (a shared log
    without the fleet's key; a key file that is empty, too short, unreadable or cannot be created, as in a
    read-only working directory) the prompt log stays off, and this process gets a key of its own that is
    never written down (nothing stored has to match its pseudonyms), so that the app and its telemetry
    keep running."""
    try:
        key = load_key(shared=prompt_log_url is not None and is_shared_log(prompt_log_url))
        Pseudonymizer(key)  # refuses a key too short to be one
        return key, True
    except (PseudonymKeyError, ValueError, OSError) as error:
        logger.error(
            "otel-ai-incident: the prompt log is off: no usable pseudonym key (%s); set %s or %s",
            error,
            names.ENV_PSEUDONYM_KEY,
            names.ENV_PSEUDONYM_KEY_FILE,
        )
        return secrets.token_bytes(32), False


def _open_prompt_log(
    url: str | None, instruments: Instruments, scrubber: PiiOutputGuard | None
) -> PromptLogWriter | None:
    if url is None:
        return None

    def count_drop(reason: str, count: int) -> None:
        instruments.prompt_log_dropped.add(count, {names.REASON: reason})

    try:
        return PromptLogWriter(
            open_store(url),
            on_drop=count_drop,
            flush_interval=env_setting(
                names.ENV_PROMPT_LOG_FLUSH, names.DEFAULT_PROMPT_LOG_FLUSH_S, _seconds, "a number of seconds"
            ),
            retention=Retention.from_env(),
            redact=(lambda text: scrubber.check(text).text) if scrubber is not None else None,
        )
    except Exception:
        instruments.instrumentation_errors.add(1, {names.COMPONENT: "prompt_log"})
        logger.error("otel-ai-incident: prompt log %s unusable; turns are not recorded", redacted(url), exc_info=True)
        return None


def _seconds(raw: str) -> float:
    seconds = float(raw)
    if not 0 < seconds < math.inf:
        raise ValueError(raw)
    return seconds


def _load_scorer(path: str | os.PathLike[str] | None, key: bytes) -> ToolArgumentScorer:
    """The tool-argument baseline saved at `path`, sealed with (a key derived from) the pseudonym key."""
    if path is not None and os.path.exists(path):
        try:
            return ToolArgumentScorer.load(path, key)
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning(
                "otel-ai-incident: tool-argument baseline %s unreadable; starting afresh", path, exc_info=True
            )
    return ToolArgumentScorer(key=key)


_OFF = {"", "off", "none", "false", "0"}
COMPONENT_INTEGRATIONS = "integrations"  # the `component` counted when a named integration cannot be enabled
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
    capture_content: bool | names.ContentCapture | None = None,
    pii_action: str = "redact",
    pii_tokens: bool = False,
    anomaly_threshold: float = hooks.DEFAULT_ANOMALY_THRESHOLD,
    anomaly_state: str | os.PathLike[str] | None = None,
    containment: str | None = None,
    prompt_log: str | bool | None = None,
    prompt_log_scrub: bool = False,
    openai: bool = False,
    openai_check_output: bool = False,
    integrations: Iterable[str] = (),
    check_output: bool = False,
) -> Instrumentation:
    """Set up spans, metrics (a Prometheus /metrics endpoint, OTLP when configured) and the hooks.

    Honours the standard OTEL_* variables (see the README). A second call returns the first handle.
    With OTEL_SDK_DISABLED=true the hooks still work but emit nothing.

    `capture_content` overrides OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT (True: on spans, or a
    `names.ContentCapture` mode); OTEL_SEMCONV_STABILITY_OPT_IN selects the GenAI convention names (README,
    "GenAI conventions").

    `pii_action` ("redact" or "block") is what `turn.check_output()` does with a reply holding PII;
    `pii_tokens` replaces each value by a keyed-HMAC token (`[EMAIL:3f9a1c2b]`, correlatable across turns)
    instead of a plain `[EMAIL]`. Tool-call arguments are scored against what each tool normally gets; a score
    of `anomaly_threshold` or more is flagged. `anomaly_state` is a file the scorer's baseline is loaded from
    and saved to at shutdown, so a restart does not forget it.

    `containment` is where the gate reads the containment state: a `sqlite:///` URL (default AII_CONTAINMENT,
    else sqlite:///ai_containment.db) or the webhook receiver's base URL for apps on other hosts.

    `prompt_log` is where every turn is recorded: a `sqlite:///` URL (default AII_PROMPT_LOG, else
    sqlite:///ai_prompt_log.db), a `postgresql://` URL for a log the fleet shares, or False (or
    AII_PROMPT_LOG=off) for none. Entries are written on a background thread and kept
    AII_PROMPT_LOG_RETENTION_DAYS (30) days; `prompt_log_scrub=True` redacts PII before they are written
    instead of in a later `otel-ai-incident logs scrub` pass. A shared log needs the fleet's pseudonym key
    (AII_PSEUDONYM_KEY or AII_PSEUDONYM_KEY_FILE): without it the prompt log stays off, with an error logged
    and counted (ai_instrumentation_errors_total{component="prompt_log"}), and the rest works as usual.

    `integrations` names the client libraries whose every call becomes a turn (see
    `telemetry.integrations.AVAILABLE`: "openai", "anthropic", "litellm", "langchain"), and "genai_spans",
    which turns other instrumentations' GenAI spans into turns (README, "Other clients");
    `check_output=True` also runs the PII check on their replies. `openai=True` and
    `openai_check_output=True` are the older spelling of `integrations=["openai"]` and its check.
    """
    global _current
    with _lock:
        if _current is not None:
            logger.debug("otel-ai-incident: instrument() called again; keeping the first set-up")
            return _current
        generations = selected_generations()
        schema_url = generations[-1].schema_url
        if sdk_disabled():
            providers = None
            tracer = trace.NoOpTracerProvider().get_tracer(names.INSTRUMENTATION_SCOPE)
            meter = metrics.NoOpMeterProvider().get_meter(names.INSTRUMENTATION_SCOPE)
            events = _logs.NoOpLoggerProvider().get_logger(names.INSTRUMENTATION_SCOPE)
        else:
            providers = configure(
                service_name,
                otlp_endpoint=otlp_endpoint,
                prometheus=prometheus,
                prometheus_host=prometheus_host,
                prometheus_port=prometheus_port,
            )
            tracer = providers.tracer_provider.get_tracer(names.INSTRUMENTATION_SCOPE, schema_url=schema_url)
            meter = providers.meter_provider.get_meter(names.INSTRUMENTATION_SCOPE, schema_url=schema_url)
            events = providers.logger_provider.get_logger(names.INSTRUMENTATION_SCOPE, schema_url=schema_url)
        prompt_log_url = _prompt_log_url(prompt_log)
        key, key_given = _pseudonym_key(prompt_log_url)
        output_guard = PiiOutputGuard(action=pii_action, hmac_key=key if pii_tokens else None)
        instruments = Instruments(
            meter,
            pii_entity_types=output_guard.entity_types,
            pii_action=output_guard.action,
            generations=generations,
        )
        if providers is not None and providers.worker_metrics is not None:
            worker_metrics_error = {names.COMPONENT: names.COMPONENT_WORKER_METRICS}
            providers.worker_metrics.count_errors_with(
                partial(instruments.instrumentation_errors.add, 1, worker_metrics_error)
            )
        if not key_given:
            instruments.instrumentation_errors.add(1, {names.COMPONENT: "prompt_log"})
            prompt_log_url = None
        runtime = hooks.Runtime(
            tracer=tracer,
            instruments=instruments,
            pseudonymizer=Pseudonymizer(key),
            gate=_open_gate(containment, instruments),
            prompt_log=_open_prompt_log(prompt_log_url, instruments, output_guard if prompt_log_scrub else None),
            output_guard=output_guard,
            tool_scorer=_load_scorer(anomaly_state, key),
            capture_content=content_capture(generations) if capture_content is None else capture_content,
            provider_name=provider,
            anomaly_threshold=anomaly_threshold,
            events=events,
        )
        _current = Instrumentation(runtime=runtime, providers=providers, anomaly_state=anomaly_state)
        hooks.set_runtime(runtime)
        wanted = dict.fromkeys([*integrations, *(["openai"] if openai else [])])
        for name in wanted:
            try:
                integration = load_integration(name)
            except (ImportError, ValueError):  # an unknown name, or its client library is not installed
                logger.error("otel-ai-incident: integration %r not enabled", name, exc_info=True)
                instruments.instrumentation_errors.add(1, {names.COMPONENT: COMPONENT_INTEGRATIONS})
                continue
            integration.instrument(check_output=check_output or (openai_check_output and name == "openai"))
            _current.integrations.append(integration)
        atexit.register(_current.shutdown)
        return _current

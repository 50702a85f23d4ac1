"""Everything the hooks need, built once by `instrument()`, and the process's current one.

The convention generations (`names.Generation`) are the instruments' (one set of names or two, chosen by
OTEL_SEMCONV_STABILITY_OPT_IN); the content capture mode says whether message content goes on spans, into
`gen_ai.client.inference.operation.details` events, both or neither.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

from opentelemetry import _logs, metrics, trace

from otel_ai_incident import names
from otel_ai_incident.promptlog.entry import system_prompt_hash
from otel_ai_incident.promptlog.pseudonym import Pseudonymizer
from otel_ai_incident.telemetry.attributes import AttributeCache
from otel_ai_incident.telemetry.instruments import Instruments
from otel_ai_incident.telemetry.ports import Gate, OpenGate, OutputGuard, PromptLogSink, ToolArgumentScorer

logger = logging.getLogger("otel_ai_incident")

DEFAULT_PROVIDER = "unknown"
DEFAULT_ANOMALY_THRESHOLD = 0.8
_PROMPT_HASH_CACHE_LIMIT = 256
_TIGHTENED = {names.ACTION: names.ContainmentActionName.TIGHTEN_GUARDRAIL.value}


class Runtime:
    """Everything the hooks need, built once by `instrument()`."""

    def __init__(
        self,
        *,
        tracer: trace.Tracer,
        instruments: Instruments,
        pseudonymizer: Pseudonymizer,
        gate: Gate | None = None,
        prompt_log: PromptLogSink | None = None,
        tool_scorer: ToolArgumentScorer | None = None,
        output_guard: OutputGuard | None = None,
        capture_content: bool | names.ContentCapture = False,
        provider_name: str = DEFAULT_PROVIDER,
        anomaly_threshold: float = DEFAULT_ANOMALY_THRESHOLD,
        events: _logs.Logger | None = None,
    ) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.generations = instruments.generations
        self.attributes = AttributeCache(instruments)
        self.pseudonymizer = pseudonymizer
        self.gate: Gate = gate or OpenGate()
        self.prompt_log = prompt_log
        self.tool_scorer = tool_scorer
        self.output_guard = output_guard
        if isinstance(capture_content, bool):  # True: on spans, as today's conventions put it
            capture_content = names.ContentCapture.SPAN_ONLY if capture_content else names.ContentCapture.NO_CONTENT
        self.content = capture_content
        # Read on every model call: plain booleans, not enum lookups.
        self.content_on_span = capture_content.on_span
        self.content_in_event = capture_content.in_event
        self.events = events or _logs.get_logger(names.INSTRUMENTATION_SCOPE)
        self.provider_name = provider_name
        self.anomaly_threshold = anomaly_threshold
        self._prompt_hashes: dict[str, str] = {}
        self._logged_errors: set[str] = set()

    @property
    def capture_content(self) -> bool:
        """Whether message content goes on spans."""
        return self.content_on_span

    def record_error(self, component: str) -> None:
        """Count an error of our own and log it once per component; called from an `except` block."""
        with contextlib.suppress(Exception):  # the last line of defence must not raise either
            self.instruments.instrumentation_errors.add(1, {names.COMPONENT: component})
            if component not in self._logged_errors:
                self._logged_errors.add(component)
                logger.warning(
                    "otel-ai-incident: internal error in %s (further ones only counted)", component, exc_info=True
                )

    def threshold(self, guardrail: str, default: float) -> float:
        """The gate's threshold for a guardrail; a tightened one counts as an enforcement of containment."""
        value = self.gate.guardrail_threshold(guardrail, default)
        if value != default:
            self.instruments.containment_enforced.add(1, _TIGHTENED)
        return value

    def prompt_hash(self, system_prompt: str) -> str:
        cached = self._prompt_hashes.get(system_prompt)
        if cached is None:
            if len(self._prompt_hashes) >= _PROMPT_HASH_CACHE_LIMIT:
                self._prompt_hashes.clear()
            cached = self._prompt_hashes[system_prompt] = system_prompt_hash(system_prompt)
        return cached


def default_runtime() -> Runtime:
    """Hooks used before `instrument()`: the global (proxy) providers, no prompt log, nothing contained, and
    a key for this process only (nothing is stored that a pseudonym would have to be matched against)."""
    generation = names.DEFAULT_GENERATION
    return Runtime(
        tracer=trace.get_tracer(names.INSTRUMENTATION_SCOPE, schema_url=generation.schema_url),
        instruments=Instruments(metrics.get_meter(names.INSTRUMENTATION_SCOPE, schema_url=generation.schema_url)),
        pseudonymizer=Pseudonymizer(secrets.token_bytes(32)),
    )


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = default_runtime()
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime

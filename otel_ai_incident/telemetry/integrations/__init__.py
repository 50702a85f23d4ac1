"""Integrations with LLM client libraries: each patches one library so every API call becomes an `llm_turn`.

The client-neutral part (request, reply, streams, the turn and model call of one API call) lives in `_core`;
each client has one module with its instrumentor (`integrations.openai`). Nothing here imports a client
library, so the core package works without any of them installed: `instrument(integrations=["openai"])`
loads the named ones by `load()`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

# Name -> (module, the module's integration object). One entry per client; add a client by adding its module.
AVAILABLE: dict[str, tuple[str, str]] = {
    "openai": ("otel_ai_incident.telemetry.integrations.openai", "INTEGRATION"),
    "anthropic": ("otel_ai_incident.telemetry.integrations.anthropic", "INTEGRATION"),
    "litellm": ("otel_ai_incident.telemetry.integrations.litellm", "INTEGRATION"),
    "langchain": ("otel_ai_incident.telemetry.integrations.langchain", "INTEGRATION"),
    # Not a client: inference spans of other instrumentations feed our turn metrics and prompt log.
    "genai_spans": ("otel_ai_incident.telemetry.integrations.genai_spans", "INTEGRATION"),
}


class Integration(Protocol):
    """What each client's instrumentor offers (the shape of OpenTelemetry's BaseInstrumentor)."""

    name: str

    def instrument(self, client: Any = None, *, check_output: bool = False) -> None:
        """Instrument every client of the library (or only `client`)."""

    def uninstrument(self) -> None:
        """Undo every `instrument` call."""


def load(name: str) -> Integration:
    """The integration called `name`; ImportError when its client library is not installed."""
    try:
        module_name, attribute = AVAILABLE[name]
    except KeyError:
        raise ValueError(f"unknown integration {name!r}; available: {', '.join(sorted(AVAILABLE))}") from None
    return getattr(importlib.import_module(module_name), attribute)

"""Auto-instrumentation of LiteLLM: every `litellm.completion`, `litellm.responses` and their async forms
(`acompletion`, `aresponses`) is an `llm_turn`.

    instrument(integrations=["litellm"])

Each call passes the containment gate before LiteLLM does anything (ContainmentActive reaches the caller, and
no request leaves), gets the turn's `invoke_agent` span with a `chat {model}` span for the request, the
metrics and a prompt-log entry, and records usage, finish reasons, refusals (a `content_filter` finish)
and the tools the model asks for. The provider comes from the model's prefix as LiteLLM routes it
(`anthropic/claude-...` -> `gen_ai.provider.name` "anthropic"); `api_base`, when given, is the server.
LiteLLM's exceptions reach the caller unchanged. `stream=True` returns a wrapped stream whose end ends the turn.
`responses` is covered whichever way LiteLLM serves it: from the provider's own Responses API (OpenAI, Azure)
or through `completion` (the others), which then adds nothing.

The functions of the `litellm` module are replaced, so `litellm.completion(...)` and a
`from litellm import completion` made after `instrument()` are covered; a name imported before is not.
Where LiteLLM sends through a provider's SDK whose integration is on too, that integration adds nothing: the
request is traced here, once. LiteLLM's own `otel` callback is not detected.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

try:
    import litellm
    from litellm.responses.streaming_iterator import ResponsesAPIStreamingIterator, SyncResponsesAPIStreamingIterator
    from litellm.types.llms.openai import ResponsesAPIResponse
    from litellm.types.utils import ModelResponse
    from litellm.utils import CustomStreamWrapper
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError("the LiteLLM integration needs it: pip install 'otel-ai-incident[litellm]'") from missing

from otel_ai_incident.telemetry.integrations._core.call import ClientApi
from otel_ai_incident.telemetry.integrations._core.patching import Patcher, mark_wrapper, wrap
from otel_ai_incident.telemetry.integrations.litellm_chat import (
    UNKNOWN_PROVIDER,
    CompletionStreamAccumulator,
    check_completion,
    completion_reply,
    completion_request,
    responses_request,
)
from otel_ai_incident.telemetry.integrations.openai_reply import (
    ResponsesStreamAccumulator,
    check_responses,
    responses_reply,
)
from otel_ai_incident.telemetry.integrations.openai_request import with_content

__all__ = ["COMPLETION", "INTEGRATION", "RESPONSES", "LiteLLMIntegration"]

COMPONENT = "litellm_integration"


def server(api_base: Any) -> tuple[str | None, int | None]:
    """Host and port of the request's `api_base`, when it names one (else LiteLLM's provider default)."""
    if not isinstance(api_base, str) or not api_base:
        return None, None
    url = urlsplit(api_base)
    if not url.hostname:
        return None, None
    return url.hostname, url.port or (443 if url.scheme == "https" else 80)


COMPLETION = ClientApi(
    provider=UNKNOWN_PROVIDER,  # each request names its own (`completion_request`)
    component=COMPONENT,
    request=completion_request,
    reply_type=ModelResponse,
    reply=completion_reply,
    check=check_completion,
    accumulator=CompletionStreamAccumulator,
    streams=(CustomStreamWrapper, CustomStreamWrapper),  # one class for both: the call's mode tells
    with_content=with_content,
    traced_elsewhere=lambda: False,
    server=server,
)
#: The Responses API: OpenAI's request, output items and stream events, in LiteLLM's reply and stream classes.
RESPONSES = dataclasses.replace(
    COMPLETION,
    request=responses_request,
    reply_type=ResponsesAPIResponse,
    reply=responses_reply,
    check=check_responses,
    accumulator=ResponsesStreamAccumulator,
    streams=(SyncResponsesAPIStreamingIterator, ResponsesAPIStreamingIterator),
)


class LiteLLMIntegration:
    """LiteLLM's instrumentor: what `instrument(integrations=["litellm"])` turns on and off."""

    name = "litellm"

    def __init__(self) -> None:
        self._patcher = Patcher()

    def instrument(self, client: Any = None, *, check_output: bool = False) -> None:
        """Turn every completion and response into a turn. LiteLLM has no client object: `client` must be None.

        `check_output=True` runs the PII check on each whole reply and puts the text it returns into it.
        """
        if client is not None:
            raise ValueError("LiteLLM has no client to instrument alone; call instrument() without one")
        self._patcher.patch(litellm, "completion", COMPLETION, False, check_output, _wrap_function)
        self._patcher.patch(litellm, "acompletion", COMPLETION, True, check_output, _wrap_function)
        self._patcher.patch(litellm, "responses", RESPONSES, False, check_output, _wrap_function)
        self._patcher.patch(litellm, "aresponses", RESPONSES, True, check_output, _wrap_function)

    def uninstrument(self) -> None:
        """Put LiteLLM's functions back."""
        self._patcher.restore()


INTEGRATION = LiteLLMIntegration()  # the process's one LiteLLM integration


def _wrap_function(
    original: Callable[..., Any], api: ClientApi, is_async: bool, check_output: bool
) -> Callable[..., Any]:
    """The core's wrapper around a module function: positional arguments (`completion(model, messages)`) are
    named for the request reader, and the request's `api_base` stands in for the client resource."""
    positional = [
        p.name
        for p in inspect.signature(original).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]

    def call_original(_api_base: Any, **kwargs: Any) -> Any:
        return original(**kwargs)

    traced_call = wrap(call_original, api, is_async, check_output)

    def instrumented(*args: Any, **kwargs: Any) -> Any:
        if args:
            kwargs = {**dict(zip(positional, args, strict=False)), **kwargs}
        return traced_call(kwargs.get("api_base"), **kwargs)

    return mark_wrapper(instrumented, original)

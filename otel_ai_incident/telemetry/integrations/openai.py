"""Auto-instrumentation of the OpenAI SDK: every chat completion and every Responses call is an `llm_turn`.

    from otel_ai_incident.telemetry.integrations.openai import instrument_openai
    instrument_openai()            # every client, sync and async
    instrument_openai(client)      # or only this client

Each call gets the contract's span and metrics from the hooks, passes the containment gate before anything is
sent (ContainmentActive then reaches the caller, and no request leaves), and records usage, finish reasons,
refusals and the tools the model asks for. The SDK's own exceptions reach the caller unchanged; errors of ours
are counted and never raised. Methods are replaced in place (no wrapt) and `uninstrument_openai()` puts them back.

`create` and the structured-output `parse` of both APIs are wrapped, and `create` of the Beta Responses API
(`client.beta.responses`); the `.stream()` helpers call `create` and are covered through it. Streams
(`stream=True`) come back wrapped: the turn ends when the stream is exhausted, fails or is closed, with usage
when the API sends it (`stream_options={"include_usage": True}`) and `gen_ai.response.time_to_first_chunk` on
the span. The `with_raw_response` / `with_streaming_response`
variants count as turns but record no reply. With `check_output`, `parse` redacts the reply's text, not the
object parsed from it.
"""

from __future__ import annotations

from typing import Any

try:
    from openai import AsyncOpenAI
    from openai.resources.chat.completions import AsyncCompletions, Completions
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError("the OpenAI integration needs the SDK: pip install 'otel-ai-incident[openai]'") from missing

from otel_ai_incident.telemetry.integrations._core.call import ClientApi
from otel_ai_incident.telemetry.integrations._core.patching import Patcher
from otel_ai_incident.telemetry.integrations.openai_api import BETA_RESPONSES, CHAT, RESPONSES

__all__ = ["INTEGRATION", "OpenAIIntegration", "instrument_openai", "uninstrument_openai"]

_METHODS = ("create", "parse")  # `parse` (structured outputs) posts by itself; `.stream()` calls `create`


class OpenAIIntegration:
    """The OpenAI client's instrumentor: what `instrument(integrations=["openai"])` turns on and off."""

    name = "openai"

    def __init__(self) -> None:
        self._patcher = Patcher()

    def instrument(self, client: Any = None, *, check_output: bool = False) -> None:
        """Turn OpenAI calls into turns: those of `client` only, or of every client when `client` is None.

        `check_output=True` runs `turn.check_output` (the PII guardrail) on each reply and puts the text it
        returns (redacted, or withheld) into the reply the caller gets; on a stream it can only record, the
        chunks being already delivered. Calling it again for what is already instrumented changes nothing.
        """
        for owner, api, is_async in _targets(client):
            for method in _METHODS:
                if hasattr(owner, method):  # older SDKs have no `parse`
                    self._patcher.patch(owner, method, api, is_async, check_output)

    def uninstrument(self) -> None:
        """Undo every `instrument` call, newest first."""
        self._patcher.restore()


INTEGRATION = OpenAIIntegration()  # the process's one OpenAI integration


def instrument_openai(client: Any = None, *, check_output: bool = False) -> None:
    """`OpenAIIntegration.instrument` on the process's OpenAI integration."""
    INTEGRATION.instrument(client, check_output=check_output)


def uninstrument_openai() -> None:
    """Undo every `instrument_openai` call, newest first."""
    INTEGRATION.uninstrument()


def _targets(client: Any) -> list[tuple[Any, ClientApi, bool]]:
    """(resource, its API, whether it is async): the SDK's async methods may be plain functions returning a
    coroutine, so asyncness is known from the client or resource class, not from the method. Older SDKs lack
    the Responses API or its Beta variant."""
    if client is not None:
        is_async = isinstance(client, AsyncOpenAI)
        resources = [
            (client.chat.completions, CHAT),
            (getattr(client, "responses", None), RESPONSES),
            (getattr(getattr(client, "beta", None), "responses", None), BETA_RESPONSES),
        ]
        return [(resource, api, is_async) for resource, api in resources if resource is not None]
    targets = [(Completions, CHAT, False), (AsyncCompletions, CHAT, True)]
    try:
        from openai.resources.responses import AsyncResponses, Responses
    except ImportError:
        return targets
    targets += [(Responses, RESPONSES, False), (AsyncResponses, RESPONSES, True)]
    try:
        from openai.resources.beta.responses import AsyncResponses as AsyncBetaResponses
        from openai.resources.beta.responses import Responses as BetaResponses
    except ImportError:
        return targets
    return [*targets, (BetaResponses, BETA_RESPONSES, False), (AsyncBetaResponses, BETA_RESPONSES, True)]

"""What a LiteLLM request and completion reply tell the turn.

LiteLLM takes OpenAI's Chat Completions and Responses requests, so a request is read by the same reader as
OpenAI's (`openai_request`, which imports no SDK); only the model differs: `anthropic/claude-...` names the
provider in its prefix, which becomes `gen_ai.provider.name`, and the turn's model is the one the provider is
asked for. Completion replies (`ModelResponse`, streamed `ModelResponseStream` chunks) are OpenAI-shaped too, but
are LiteLLM's own objects, read here field by field without assuming OpenAI's SDK types. Responses replies
hold OpenAI's own output items and stream events, and are read by OpenAI's reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import litellm
from litellm.types.utils import ModelResponse

from otel_ai_incident.telemetry.integrations import openai_request
from otel_ai_incident.telemetry.integrations._core.reply import Checker, Reply, RequestedTool
from otel_ai_incident.telemetry.integrations._core.request import TurnRequest, string

CONTENT_FILTER = "content_filter"
# LiteLLM's provider names that the GenAI conventions spell differently (`gen_ai.provider.name` values).
_PROVIDER_NAMES = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "xai": "x_ai",
}
UNKNOWN_PROVIDER = "unknown"


def completion_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `litellm.completion(**kwargs)`: OpenAI's chat request, with the provider taken from the model."""
    return _routed(openai_request.chat_request(kwargs), kwargs)


def responses_request(kwargs: Mapping[str, Any]) -> TurnRequest:
    """Read `litellm.responses(**kwargs)`: OpenAI's Responses request, with the provider taken from the model."""
    return _routed(openai_request.responses_request(kwargs), kwargs)


def _routed(request: TurnRequest, kwargs: Mapping[str, Any]) -> TurnRequest:
    """The request with the model and provider LiteLLM sends it to."""
    model, provider = _route(request.model, string(kwargs.get("custom_llm_provider")))
    request.model = model
    request.provider = _PROVIDER_NAMES.get(provider, provider)
    return request


# Routes already asked of LiteLLM, by (model, provider): an app names few models, and LiteLLM's routing (string
# checks against its provider lists, tens of µs) answers the same for the same pair every time. Bounded, so an
# app that makes up model names cannot grow it without end; a model LiteLLM cannot route is asked again.
_ROUTES: dict[tuple[str, str | None], tuple[str, str]] = {}
_MAX_ROUTES = 1024


def _route(model: str, provider: str | None) -> tuple[str, str]:
    """(the provider's model, LiteLLM's provider name), as LiteLLM routes the request."""
    key = (model, provider)
    known = _ROUTES.get(key)
    if known is not None:
        return known
    try:
        routed, routed_provider, _, _ = litellm.get_llm_provider(model, custom_llm_provider=provider)
    except Exception:  # a model LiteLLM cannot route: the call itself fails the same way
        return model, provider or UNKNOWN_PROVIDER
    route = (routed, routed_provider or UNKNOWN_PROVIDER)
    if len(_ROUTES) < _MAX_ROUTES:
        _ROUTES[key] = route
    return route


def _usage(usage: Any) -> tuple[int | None, int | None, int | None]:
    """(input, output, cached input) tokens of a usage object, if any."""
    if usage is None:
        return None, None, None
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None)
    return getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None), cached or None


def _tool(call: Any) -> RequestedTool | None:
    function = getattr(call, "function", None)
    name = getattr(function, "name", None)
    return RequestedTool(name, getattr(call, "id", None), getattr(function, "arguments", None)) if name else None


def completion_reply(response: ModelResponse) -> Reply:
    """The first choice's text; finish reasons and requested tools of every choice."""
    choices = response.choices or []
    finish_reasons = tuple(c.finish_reason for c in choices if c.finish_reason)
    tools = tuple(
        tool for c in choices for call in getattr(c.message, "tool_calls", None) or () if (tool := _tool(call))
    )
    input_tokens, output_tokens, cached = _usage(getattr(response, "usage", None))
    return Reply(
        text=choices[0].message.content if choices else None,
        response_id=response.id,
        response_model=response.model,
        finish_reasons=finish_reasons,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        refused=CONTENT_FILTER in finish_reasons,
        tools=tools,
        cache_read_tokens=cached,
    )


def check_completion(response: ModelResponse, check: Checker) -> None:
    """Run the output check on every choice and keep what it returns."""
    for choice in response.choices or []:
        if choice.message.content:
            choice.message.content = check(choice.message.content)


class CompletionStreamAccumulator:
    """Rebuilds a reply from `ModelResponseStream` chunks (usage in the last one when it is sent)."""

    __slots__ = ("_finish", "_id", "_model", "_text", "_tools", "_usage")

    def __init__(self) -> None:
        self._id: str | None = None
        self._model: str | None = None
        self._text: list[str] = []
        self._finish: dict[int, str] = {}
        self._tools: dict[tuple[int, int], list[Any]] = {}  # (choice, call) -> [name, id, argument pieces]
        self._usage: Any = None

    def add(self, chunk: Any) -> None:
        self._id = chunk.id or self._id
        self._model = chunk.model or self._model
        if (usage := getattr(chunk, "usage", None)) is not None:
            self._usage = usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content and choice.index == 0:
                self._text.append(delta.content)
            for call in getattr(delta, "tool_calls", None) or ():
                parts = self._tools.setdefault((choice.index, call.index or 0), [None, None, []])
                function = call.function
                parts[0] = getattr(function, "name", None) or parts[0]
                parts[1] = call.id or parts[1]
                if arguments := getattr(function, "arguments", None):
                    parts[2].append(arguments)
            if choice.finish_reason:
                self._finish[choice.index] = choice.finish_reason

    def reply(self) -> Reply:
        finish_reasons = tuple(self._finish[index] for index in sorted(self._finish))
        input_tokens, output_tokens, cached = _usage(self._usage)
        return Reply(
            text="".join(self._text) or None,
            response_id=self._id,
            response_model=self._model,
            finish_reasons=finish_reasons,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            refused=CONTENT_FILTER in finish_reasons,
            tools=tuple(
                RequestedTool(n, i, "".join(a)) for (n, i, a) in (self._tools[k] for k in sorted(self._tools)) if n
            ),
            cache_read_tokens=cached,
        )

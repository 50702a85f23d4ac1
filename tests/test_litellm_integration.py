"""The LiteLLM integration against the real package: `mock_response` answers without any network, and one
test routes a request through the real OpenAI SDK to a mocked HTTP transport to show nothing is sent."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the model price list

import httpx2
import litellm
import openai
from opentelemetry.trace import StatusCode

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.guardrails.output import PiiOutputGuard
from otel_ai_incident.telemetry.integrations import litellm_chat, load
from otel_ai_incident.telemetry.integrations.litellm import INTEGRATION
from telemetry_support import Pipeline
from test_openai_integration import FakeApi, KillSwitch, completion, reply_json, use_pipeline

MODEL = "claude-sonnet-4-5"
MESSAGES = [
    {"role": "system", "content": "You are the support assistant."},
    {"role": "user", "content": "where is my order?"},
]
ANSWER = "Your order ships today."
ORIGINAL_COMPLETION = litellm.completion


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    yield from use_pipeline()


@pytest.fixture
def instrumented() -> Iterator[None]:
    INTEGRATION.instrument()
    yield
    INTEGRATION.uninstrument()


def turns(pipe: Pipeline, outcome: str, model: str = MODEL) -> Any:
    return pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: model, names.OUTCOME: outcome})


def chat_attributes(pipe: Pipeline, model: str = MODEL) -> dict[str, Any]:
    chat = pipe.span(f"chat {model}")
    assert chat.parent.span_id == pipe.span("invoke_agent").context.span_id
    return dict(chat.attributes)


def assert_whole_turn(pipe: Pipeline, text: str = ANSWER) -> None:
    attrs = chat_attributes(pipe)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "anthropic"  # from the model's prefix
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] > 0 and attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert turns(pipe, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response) == ("where is my order?", text)
    assert entry.input_tokens == attrs[names.GEN_AI_USAGE_INPUT_TOKENS]
    assert pipe.records(names.OPERATION_DURATION.name) == 1


def test_a_completion_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    result = litellm.completion(f"anthropic/{MODEL}", MESSAGES, mock_response=ANSWER, temperature=0.2)
    assert result.choices[0].message.content == ANSWER
    assert_whole_turn(pipe)
    assert chat_attributes(pipe)[names.GEN_AI_REQUEST_TEMPERATURE] == 0.2


def test_an_async_completion_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    result = asyncio.run(litellm.acompletion(model=f"anthropic/{MODEL}", messages=MESSAGES, mock_response=ANSWER))
    assert result.choices[0].message.content == ANSWER
    assert_whole_turn(pipe)


def test_a_stream_ends_the_turn_when_exhausted(pipe: Pipeline, instrumented: None) -> None:
    stream = litellm.completion(
        model=f"anthropic/{MODEL}",
        messages=MESSAGES,
        mock_response=ANSWER,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert pipe.spans() == []
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == ANSWER
    assert_whole_turn(pipe)
    assert names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in chat_attributes(pipe)


def test_an_async_stream_ends_the_turn_when_exhausted(pipe: Pipeline, instrumented: None) -> None:
    async def call() -> str:
        stream = await litellm.acompletion(
            model=f"anthropic/{MODEL}",
            messages=MESSAGES,
            mock_response=ANSWER,
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(call()) == ANSWER
    assert_whole_turn(pipe)


def test_requested_tools_are_recorded(pipe: Pipeline, instrumented: None) -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_order", "arguments": '{"id": 42}'}}]
    litellm.completion(model=f"anthropic/{MODEL}", messages=MESSAGES, mock_response="", mock_tool_calls=calls)
    events = pipe.span(f"chat {MODEL}").events
    assert [dict(e.attributes) for e in events if e.name == names.AI_TOOL_CALL_REQUESTED] == [
        {names.GEN_AI_TOOL_NAME: "get_order", names.GEN_AI_TOOL_CALL_ID: "call_1"}
    ]


def test_a_content_filter_finish_is_a_refusal(pipe: Pipeline, instrumented: None) -> None:
    reply = litellm.ModelResponse(
        model=MODEL,
        choices=[{"index": 0, "finish_reason": "content_filter", "message": {"role": "assistant", "content": None}}],
    )
    litellm.completion(model=f"anthropic/{MODEL}", messages=MESSAGES, mock_response=reply)
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1


def test_an_error_reaches_the_caller_unchanged(pipe: Pipeline, instrumented: None) -> None:
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model=f"anthropic/{MODEL}", messages=MESSAGES, mock_response="litellm.RateLimitError")
    chat = pipe.span(f"chat {MODEL}")
    assert chat.status.status_code is StatusCode.ERROR
    assert dict(chat.attributes)[names.ERROR_TYPE] == "RateLimitError"
    assert turns(pipe, "error") == 1


def test_through_the_openai_sdk_and_the_kill_switch_sends_nothing() -> None:
    """A real route (LiteLLM -> OpenAI SDK -> HTTP transport): answered when open, nothing sent when contained."""
    api = FakeApi(reply_json(completion(ANSWER)))
    client = api.client()
    pipe_gen = use_pipeline()
    pipe = next(pipe_gen)
    INTEGRATION.instrument()
    try:
        result = litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            client=client,
            api_key="test",
            api_base="http://openai.test/v1",
        )
        assert result.choices[0].message.content == ANSWER and len(api.requests) == 1
        attrs = chat_attributes(pipe, "gpt-4o-mini")
        assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
        assert (attrs[names.SERVER_ADDRESS], attrs[names.SERVER_PORT]) == ("openai.test", 80)
        assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
        pipe.runtime.gate = KillSwitch()
        with pytest.raises(aii.ContainmentActive):
            litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, client=client, api_key="test")
        with pytest.raises(aii.ContainmentActive):
            asyncio.run(litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES, api_key="test"))
    finally:
        INTEGRATION.uninstrument()
        pipe_gen.close()
    assert len(api.requests) == 1
    assert turns(pipe, "contained", "gpt-4o-mini") == 2


def test_check_output_redacts_the_reply() -> None:
    pipe_gen = use_pipeline(output_guard=PiiOutputGuard())
    pipe = next(pipe_gen)
    INTEGRATION.instrument(check_output=True)
    try:
        leaked = "Write to jane.doe@example.com for help."
        result = litellm.completion(model=f"anthropic/{MODEL}", messages=MESSAGES, mock_response=leaked)
    finally:
        INTEGRATION.uninstrument()
        pipe_gen.close()
    assert "jane.doe@example.com" not in result.choices[0].message.content
    assert "jane.doe@example.com" not in pipe.runtime.prompt_log.entries[0].assistant_response


def test_uninstrument_restores_and_instrument_is_by_name() -> None:
    INTEGRATION.instrument()
    INTEGRATION.instrument()  # twice changes nothing
    INTEGRATION.uninstrument()
    assert litellm.completion is ORIGINAL_COMPLETION
    assert load("litellm") is INTEGRATION
    with pytest.raises(ValueError):
        INTEGRATION.instrument(openai.OpenAI(api_key="test", http_client=httpx2.Client()))


def test_a_model_is_routed_once_and_an_unknown_one_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteLLM's routing is asked once per model and provider (it costs tens of µs a call and answers the same
    every time); a model it cannot route is not remembered, so a provider registered later is seen."""
    asked: list[str] = []
    route = litellm.get_llm_provider

    def counted(model: str, **kwargs: Any) -> Any:
        asked.append(model)
        return route(model, **kwargs)

    monkeypatch.setattr(litellm, "get_llm_provider", counted)
    monkeypatch.setattr(litellm_chat, "_ROUTES", {})
    for _ in range(3):
        request = litellm_chat.completion_request({"model": f"anthropic/{MODEL}", "messages": MESSAGES})
        assert (request.model, request.provider) == (MODEL, "anthropic")
        unknown = litellm_chat.completion_request({"model": "no-such-model-x", "messages": MESSAGES})
        assert unknown.provider == litellm_chat.UNKNOWN_PROVIDER
    assert asked == [f"anthropic/{MODEL}"] + ["no-such-model-x"] * 3

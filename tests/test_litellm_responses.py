"""LiteLLM's Responses API (`litellm.responses`, `aresponses`) against the real package: OpenAI's model through
LiteLLM's own HTTP handler to a mocked transport (LiteLLM calls OpenAI's Responses API itself, not through
OpenAI's SDK), whole and streamed, and Anthropic's through LiteLLM's bridge to `completion`."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the model price list

import httpx
import litellm
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, HTTPHandler

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.telemetry.integrations.litellm import INTEGRATION
from telemetry_support import Pipeline
from test_anthropic_integration import MODEL as ANTHROPIC_MODEL
from test_anthropic_integration import message as anthropic_message
from test_openai_integration import KillSwitch, use_pipeline

MODEL = "gpt-4o-mini"
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
QUESTION = "where is my order?"
ANSWER = "Your order ships today."
ORIGINAL = (litellm.responses, litellm.aresponses)


def response(*output: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": status,
        "model": SERVED_MODEL,
        "output": list(output),
        "usage": {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17},
        "incomplete_details": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def text_item(text: str = ANSWER) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


TOOL_ITEM = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_1",
    "name": "get_order",
    "arguments": '{"id": 42}',
    "status": "completed",
}
STREAM = [
    {"type": "response.created", "response": response(status="in_progress"), "sequence_number": 0},
    *(
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": delta,
            "sequence_number": n,
        }
        for n, delta in enumerate(("Your order ", "ships today."), start=1)
    ),
    {"type": "response.completed", "response": response(text_item()), "sequence_number": 3},
]


class ResponsesApi:
    """OpenAI's Responses endpoint behind a mocked transport; keeps every request."""

    def __init__(self, answer: Callable[[], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer()

    def client(self) -> HTTPHandler:
        return HTTPHandler(client=httpx.Client(transport=httpx.MockTransport(self)))

    def async_client(self) -> AsyncHTTPHandler:
        return AsyncHTTPHandler(transport=httpx.MockTransport(self))


def whole(*output: dict[str, Any]) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(200, json=response(*output))


def streamed() -> httpx.Response:
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in STREAM)
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    """A fresh pipeline, LiteLLM instrumented while the test runs."""
    INTEGRATION.instrument()
    try:
        yield from use_pipeline()
    finally:
        INTEGRATION.uninstrument()


def ask(api: ResponsesApi, **kwargs: Any) -> Any:
    return litellm.responses(model=f"openai/{MODEL}", input=QUESTION, client=api.client(), api_key="test", **kwargs)


async def ask_async(api: ResponsesApi, **kwargs: Any) -> Any:
    return await litellm.aresponses(
        model=f"openai/{MODEL}", input=QUESTION, client=api.async_client(), api_key="test", **kwargs
    )


def assert_whole_turn(pipe: Pipeline, model: str = MODEL, provider: str = "openai") -> dict[str, Any]:
    chat = pipe.span(f"chat {model}")
    assert chat.parent.span_id == pipe.span("invoke_agent").context.span_id
    attrs = dict(chat.attributes)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == provider
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: model, names.OUTCOME: "ok"}) == 1
    assert pipe.records(names.OPERATION_DURATION.name) == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response) == (QUESTION, ANSWER)
    assert entry.input_tokens == attrs[names.GEN_AI_USAGE_INPUT_TOKENS]
    return attrs


def test_a_response_is_a_turn(pipe: Pipeline) -> None:
    api = ResponsesApi(whole(text_item(), TOOL_ITEM))
    result = ask(api, instructions="You are the support assistant.")
    assert result.output[0].content[0].text == ANSWER and len(api.requests) == 1
    attrs = assert_whole_turn(pipe)
    # LiteLLM hands out its own response id (the provider's, encoded with the route): the one the app sees.
    assert (attrs[names.GEN_AI_RESPONSE_ID], attrs[names.GEN_AI_RESPONSE_MODEL]) == (result.id, SERVED_MODEL)
    assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("completed",)
    assert [dict(e.attributes) for e in pipe.span(f"chat {MODEL}").events] == [
        {names.GEN_AI_TOOL_NAME: "get_order", names.GEN_AI_TOOL_CALL_ID: "call_1"}
    ]
    assert pipe.runtime.prompt_log.entries[0].system_prompt == "You are the support assistant."


def test_an_async_response_is_a_turn(pipe: Pipeline) -> None:
    api = ResponsesApi(whole(text_item()))
    result = asyncio.run(ask_async(api))
    assert result.output[0].content[0].text == ANSWER
    assert_whole_turn(pipe)


def test_a_streamed_response_ends_the_turn_when_exhausted(pipe: Pipeline) -> None:
    api = ResponsesApi(streamed)
    stream = ask(api, stream=True)
    assert [s.name for s in pipe.spans()] == []  # the turn is open while the stream is
    deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
    assert "".join(deltas) == ANSWER
    assert_whole_turn(pipe)


def test_an_async_streamed_response_ends_the_turn_when_exhausted(pipe: Pipeline) -> None:
    async def run() -> str:
        stream = await ask_async(ResponsesApi(streamed), stream=True)
        return "".join([event.delta async for event in stream if event.type == "response.output_text.delta"])

    assert asyncio.run(run()) == ANSWER
    assert_whole_turn(pipe)


def test_the_kill_switch_sends_no_response_request(pipe: Pipeline) -> None:
    api = ResponsesApi(whole(text_item()))
    pipe.runtime.gate = KillSwitch()
    with pytest.raises(aii.ContainmentActive):
        ask(api)
    with pytest.raises(aii.ContainmentActive):
        asyncio.run(ask_async(api))
    with pytest.raises(aii.ContainmentActive):
        ask(api, stream=True)
    assert api.requests == []
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "contained"}) == 3


def test_an_error_reaches_the_caller_and_marks_the_turn(pipe: Pipeline) -> None:
    api = ResponsesApi(lambda: httpx.Response(429, json={"error": {"message": "slow down", "type": "rate_limit"}}))
    with pytest.raises(litellm.RateLimitError):
        ask(api)
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "error"}) == 1
    assert dict(pipe.span(f"chat {MODEL}").attributes)[names.ERROR_TYPE] == "RateLimitError"


def test_through_the_completion_bridge_it_is_one_turn(pipe: Pipeline) -> None:
    """A provider without a Responses API of its own: LiteLLM sends Anthropic's Messages request through
    `litellm.completion`, which is wrapped as well and adds nothing inside the response's turn."""
    api = ResponsesApi(lambda: httpx.Response(200, json=anthropic_message()))
    result = litellm.responses(
        model=f"anthropic/{ANTHROPIC_MODEL}", input=QUESTION, client=api.client(), api_key="test"
    )
    assert result.output[0].content[0].text == ANSWER
    assert [r.url.path for r in api.requests] == ["/v1/messages"]
    assert_whole_turn(pipe, ANTHROPIC_MODEL, "anthropic")


def test_uninstrument_puts_the_responses_functions_back() -> None:
    INTEGRATION.instrument()
    assert (litellm.responses, litellm.aresponses) != ORIGINAL
    INTEGRATION.uninstrument()
    assert (litellm.responses, litellm.aresponses) == ORIGINAL

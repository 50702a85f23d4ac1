"""The OpenAI integration against the real SDK, its HTTP layer mocked (no network): turns, streams, the gate."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import gc
import json
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pydantic
import pytest
from openai.resources.beta.responses import Responses as BetaResponses
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.responses import Responses
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.guardrails.output import PiiOutputGuard
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations import openai as integration
from otel_ai_incident.telemetry.integrations.openai import instrument_openai, uninstrument_openai
from otel_ai_incident.telemetry.turn_context import current_turn_context, turn_context
from telemetry_support import ListSink, Pipeline, make_pipeline

MODEL = "gpt-4o-mini"
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
SYSTEM = "You are the support assistant."
MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": [{"type": "text", "text": "where is my order?"}]},
]
ORIGINAL_CREATE = Completions.__dict__["create"]

Handler = Callable[[httpx2.Request], httpx2.Response]


# -- a fake OpenAI API ----------------------------------------------------------------------------------------


class FakeApi:
    """Answers with the queued handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.handler(request)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(
            api_key="test",
            base_url="http://openai.test/v1",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(self)),
        )

    def async_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key="test",
            base_url="http://openai.test/v1",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self)),
        )


def reply_json(body: dict[str, Any], status: int = 200) -> Handler:
    return lambda request: httpx2.Response(status, json=body)


def reply_sse(events: list[dict[str, Any]], done: bool = True) -> Handler:
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + ("data: [DONE]\n\n" if done else "")
    return lambda request: httpx2.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def completion(
    content: str | None = "Your order ships today.",
    *,
    finish: str = "stop",
    refusal: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": SERVED_MODEL,
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": SERVED_MODEL,
        "choices": choices,
        "usage": usage,
    }


STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Your order "}),
    chunk({"content": "ships today."}),
    chunk({}, finish="stop"),
    chunk(None, usage={"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}),
]


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def response_json(
    output: list[dict[str, Any]], *, status: str = "completed", incomplete: str | None = None
) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": SERVED_MODEL,
        "status": status,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "usage": {"input_tokens": 20, "output_tokens": 8, "total_tokens": 28},
    }


def output_message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


# -- fixtures -------------------------------------------------------------------------------------------------


class KillSwitch:
    """A gate with the kill switch on."""

    def turn_blocked(self, user_pseudonym: str | None) -> tuple[str, None]:
        return names.ContainmentActionName.KILL_SWITCH.value, None

    def tool_blocked(self, tool: str, writes: bool) -> None:
        return None

    def guardrail_threshold(self, guardrail: str, default: float) -> float:
        return default


def use_pipeline(**runtime_kwargs: Any) -> Iterator[Pipeline]:
    pipeline = make_pipeline(prompt_log=ListSink(), **runtime_kwargs)
    hooks.set_runtime(pipeline.runtime)
    try:
        yield pipeline
    finally:
        hooks.set_runtime(None)


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    yield from use_pipeline()


@pytest.fixture
def instrumented() -> Iterator[None]:
    instrument_openai()
    yield
    uninstrument_openai()


def chat_span(pipe: Pipeline, model: str = MODEL) -> Any:
    return pipe.span(f"chat {model}")


def turn_span(pipe: Pipeline) -> Any:
    return pipe.span("invoke_agent")


ONE_CALL = sorted([f"chat {MODEL}", "invoke_agent"])  # the turn, and the model call inside it


def turns(pipe: Pipeline, outcome: str, model: str = MODEL) -> Any:
    return pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: model, names.OUTCOME: outcome})


# -- whole replies --------------------------------------------------------------------------------------------


def test_a_chat_completion_becomes_a_turn(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_json(completion()))
    result = api.client().chat.completions.create(model=MODEL, messages=MESSAGES)

    assert result.choices[0].message.content == "Your order ships today."
    assert len(api.requests) == 1
    chat, turn = chat_span(pipe), turn_span(pipe)
    assert chat.parent.span_id == turn.context.span_id
    attrs = dict(chat.attributes)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == SERVED_MODEL
    assert attrs[names.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[names.SERVER_ADDRESS], attrs[names.SERVER_PORT]) == ("openai.test", 80)
    assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert dict(turn.attributes)[names.AI_SYSTEM_PROMPT_HASH] == pipe.runtime.prompt_hash(SYSTEM)
    assert names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in attrs
    assert turns(pipe, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert entry.user_message == "where is my order?"
    assert entry.assistant_response == "Your order ships today."


def duration_exemplar_spans(pipe: Pipeline) -> list[int]:
    """The span ids the duration histogram's exemplars point at since the last collection (the test pipeline
    keeps the SDK's default exemplar filter, trace_based)."""
    return [e.span_id for point in pipe.points(names.DEFAULT_GENERATION.duration).values() for e in point.exemplars]


def test_the_model_calls_records_point_at_its_span_though_it_never_was_current(
    pipe: Pipeline, instrumented: None
) -> None:
    client = FakeApi(reply_json(completion())).client()
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert duration_exemplar_spans(pipe) == [chat_span(pipe).context.span_id]

    pipe.spans_exporter.clear()
    stream_client = FakeApi(reply_sse(STREAM)).client()
    stream = stream_client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    for _ in stream:
        pass
    assert chat_span(pipe).context.span_id in duration_exemplar_spans(pipe)


def test_async_chat_completion(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_json(completion()))

    async def call() -> Any:
        return await api.async_client().chat.completions.create(model=MODEL, messages=MESSAGES)

    result = asyncio.run(call())
    assert result.choices[0].message.content == "Your order ships today."
    assert dict(chat_span(pipe).attributes)[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert turns(pipe, "ok") == 1


def test_the_callers_context_never_holds_the_turn(pipe: Pipeline, instrumented: None) -> None:
    client = FakeApi(reply_sse(STREAM)).client()
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert not trace.get_current_span().get_span_context().is_valid
    list(stream)
    assert not trace.get_current_span().get_span_context().is_valid


# -- streams --------------------------------------------------------------------------------------------------


def test_a_sync_stream_ends_the_turn_when_exhausted(pipe: Pipeline, instrumented: None) -> None:
    client = FakeApi(reply_sse(STREAM)).client()
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert pipe.spans() == []  # the turn lasts as long as the stream
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert text == "Your order ships today."
    attrs = dict(chat_span(pipe).attributes)
    assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert 0 <= attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < 5
    assert turns(pipe, "ok") == 1
    assert pipe.runtime.prompt_log.entries[0].assistant_response == "Your order ships today."


def test_a_stream_closed_early_by_its_context_manager_ends_the_turn(pipe: Pipeline, instrumented: None) -> None:
    client = FakeApi(reply_sse(STREAM)).client()
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        next(stream)
        next(stream)
        assert pipe.spans() == []
    assert stream.response.is_closed  # delegated to the SDK's stream
    assert turns(pipe, "ok") == 1
    assert pipe.runtime.prompt_log.entries[0].assistant_response == "Your order "


def test_an_async_stream_with_usage(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_sse(STREAM))

    async def call() -> str:
        stream = await api.async_client().chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(call()) == "Your order ships today."
    attrs = dict(chat_span(pipe).attributes)
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs
    assert turns(pipe, "ok") == 1


def test_an_error_in_the_middle_of_a_stream_reaches_the_caller_and_marks_the_turn(
    pipe: Pipeline, instrumented: None
) -> None:
    events = [STREAM[1], {"error": {"message": "server had an error", "type": "server_error"}}]
    stream = FakeApi(reply_sse(events)).client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="server had an error"):
        list(stream)
    assert dict(chat_span(pipe).attributes)[names.ERROR_TYPE] == "APIError"
    assert turns(pipe, "error") == 1
    assert pipe.runtime.prompt_log.entries[0].assistant_response == "Your order "


def test_an_abandoned_stream_still_ends_its_turn(pipe: Pipeline, instrumented: None) -> None:
    stream = FakeApi(reply_sse(STREAM)).client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    next(stream)
    del stream
    gc.collect()
    assert turns(pipe, "ok") == 1


def test_tool_calls_streamed_in_pieces_are_reassembled() -> None:
    pipe_gen = use_pipeline(capture_content=True)
    pipe = next(pipe_gen)
    instrument_openai()
    try:
        start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_order", "arguments": ""}}
        events = [
            chunk({"role": "assistant", "tool_calls": [start]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"id": '}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "42}"}}]}),
            chunk({}, finish="tool_calls"),
        ]
        list(FakeApi(reply_sse(events)).client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    finally:
        uninstrument_openai()
        pipe_gen.close()
    (event,) = chat_span(pipe).events
    assert event.name == names.AI_TOOL_CALL_REQUESTED
    assert dict(event.attributes) == {
        names.GEN_AI_TOOL_NAME: "get_order",
        names.GEN_AI_TOOL_CALL_ID: "call_1",
        names.GEN_AI_TOOL_CALL_ARGUMENTS: '{"id": 42}',
    }


# -- what the reply says --------------------------------------------------------------------------------------


def test_a_refusal_message_counts_as_refusal(pipe: Pipeline, instrumented: None) -> None:
    FakeApi(reply_json(completion(None, refusal="I can't help with that."))).client().chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1
    assert dict(turn_span(pipe).attributes)[hooks.AI_REFUSAL] is True


def test_a_content_filter_finish_counts_as_refusal(pipe: Pipeline, instrumented: None) -> None:
    FakeApi(reply_json(completion(None, finish="content_filter"))).client().chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1
    assert dict(chat_span(pipe).attributes)[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("content_filter",)


def test_an_ordinary_reply_is_no_refusal(pipe: Pipeline, instrumented: None) -> None:
    FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 0


def test_requested_tools_are_events_without_arguments_by_default(pipe: Pipeline, instrumented: None) -> None:
    calls = [tool_call("call_1", "get_order", '{"id": 42}'), tool_call("call_2", "refund", '{"amount": 10}')]
    FakeApi(reply_json(completion(None, finish="tool_calls", tool_calls=calls))).client().chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    span = chat_span(pipe)
    assert [dict(e.attributes) for e in span.events if e.name == names.AI_TOOL_CALL_REQUESTED] == [
        {names.GEN_AI_TOOL_NAME: "get_order", names.GEN_AI_TOOL_CALL_ID: "call_1"},
        {names.GEN_AI_TOOL_NAME: "refund", names.GEN_AI_TOOL_CALL_ID: "call_2"},
    ]
    assert sorted(s.name for s in pipe.spans()) == ONE_CALL  # requested, not executed: no execute_tool span


# -- errors and containment -----------------------------------------------------------------------------------


def test_a_rate_limit_reaches_the_caller_and_marks_the_turn(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_json({"error": {"message": "slow down", "type": "rate_limit"}}, status=429))
    with pytest.raises(openai.RateLimitError) as raised:
        api.client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert raised.value.status_code == 429
    span = chat_span(pipe)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes)[names.ERROR_TYPE] == "RateLimitError"
    assert turns(pipe, "error") == 1 and turns(pipe, "ok") == 0


def test_a_timeout_reaches_the_caller_and_marks_the_turn(pipe: Pipeline, instrumented: None) -> None:
    def time_out(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("too slow", request=request)

    with pytest.raises(openai.APITimeoutError):
        FakeApi(time_out).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert dict(chat_span(pipe).attributes)[names.ERROR_TYPE] == "APITimeoutError"
    assert turns(pipe, "error") == 1


def test_the_kill_switch_stops_the_call_before_any_request() -> None:
    pipe_gen = use_pipeline(gate=KillSwitch())
    pipe = next(pipe_gen)
    instrument_openai()
    api = FakeApi(reply_json(completion()))
    try:
        with pytest.raises(aii.ContainmentActive):
            api.client().chat.completions.create(model=MODEL, messages=MESSAGES)
        with pytest.raises(aii.ContainmentActive):
            asyncio.run(api.async_client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
        with pytest.raises(aii.ContainmentActive):
            api.client().chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=OrderStatus)
        with pytest.raises(aii.ContainmentActive):
            asyncio.run(api.async_client().beta.responses.create(model=MODEL, input="hi"))
    finally:
        uninstrument_openai()
        pipe_gen.close()
    assert api.requests == []
    assert turns(pipe, "contained") == 4
    assert pipe.value(names.CONTAINMENT_ENFORCED, action="kill_switch") == 4


def test_our_own_failure_never_reaches_the_caller(pipe: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(completion: Any) -> Any:
        raise RuntimeError("bug in the integration")

    monkeypatch.setattr(integration, "CHAT", dataclasses.replace(integration.CHAT, reply=broken))
    instrument_openai()
    try:
        result = FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        uninstrument_openai()
    assert result.choices[0].message.content == "Your order ships today."
    assert pipe.value(names.INSTRUMENTATION_ERRORS, component="openai_integration") == 1
    assert turns(pipe, "ok") == 1


# -- who the turn is for --------------------------------------------------------------------------------------


def pseudonym_of(pipe: Pipeline, span: Any = None) -> str | None:
    return dict((span or turn_span(pipe)).attributes).get(names.ENDUSER_PSEUDO_ID)


def test_user_and_session_come_from_turn_context(pipe: Pipeline, instrumented: None) -> None:
    with turn_context(user_id="alice", session_id="sess-9"):
        FakeApi(reply_json(completion())).client().chat.completions.create(
            model=MODEL, messages=MESSAGES, user="ignored-because-the-context-says-alice"
        )
    attrs = dict(turn_span(pipe).attributes)
    assert attrs[names.ENDUSER_PSEUDO_ID] == pipe.runtime.pseudonymizer.pseudonymize("alice")
    assert attrs[names.GEN_AI_CONVERSATION_ID] == "sess-9"
    assert dict(chat_span(pipe).attributes)[names.GEN_AI_CONVERSATION_ID] == "sess-9"


def test_user_comes_from_the_request_without_turn_context(pipe: Pipeline, instrumented: None) -> None:
    FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=MESSAGES, user="bob")
    assert pseudonym_of(pipe) == pipe.runtime.pseudonymizer.pseudonymize("bob")
    assert all("bob" not in json.dumps(dict(span.attributes)) for span in pipe.spans())


def test_safety_identifier_is_preferred_to_user(pipe: Pipeline, instrumented: None) -> None:
    FakeApi(reply_json(completion())).client().chat.completions.create(
        model=MODEL, messages=MESSAGES, user="legacy", safety_identifier="carol"
    )
    assert pseudonym_of(pipe) == pipe.runtime.pseudonymizer.pseudonymize("carol")


def test_turn_context_follows_tasks_and_copied_thread_contexts(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_json(completion()))

    async def as_user(user: str) -> None:
        with turn_context(user_id=user):
            await asyncio.sleep(0)
            await api.async_client().chat.completions.create(model=MODEL, messages=MESSAGES)

    async def both() -> None:
        await asyncio.gather(as_user("dave"), as_user("erin"))

    asyncio.run(both())
    with turn_context(user_id="frank", session_id="s1"):
        context = contextvars.copy_context()
    seen: list[Any] = []
    thread = threading.Thread(target=context.run, args=(lambda: seen.append(current_turn_context()),))
    thread.start()
    thread.join()

    pseudonymize = pipe.runtime.pseudonymizer.pseudonymize
    turn_spans = [s for s in pipe.spans() if s.name == "invoke_agent"]
    assert sorted(pseudonym_of(pipe, s) for s in turn_spans) == sorted([pseudonymize("dave"), pseudonymize("erin")])
    assert (seen[0].user_id, seen[0].session_id) == ("frank", "s1")
    assert current_turn_context().user_id is None


def test_nested_turn_contexts_inherit_what_they_do_not_set() -> None:
    with turn_context(user_id="alice"), turn_context(session_id="s2") as inner:
        assert (inner.user_id, inner.session_id) == ("alice", "s2")
    assert current_turn_context().session_id is None


# -- Responses API --------------------------------------------------------------------------------------------


class OrderStatus(pydantic.BaseModel):
    order: str
    eta: str


ORDER_JSON = '{"order": "12345", "eta": "Friday"}'


def test_a_structured_output_parse_is_one_turn(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_json(completion(ORDER_JSON)))
    result = api.client().chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=OrderStatus)

    assert result.choices[0].message.parsed == OrderStatus(order="12345", eta="Friday")
    assert len(api.requests) == 1 and sorted(s.name for s in pipe.spans()) == ONE_CALL
    attrs = dict(chat_span(pipe).attributes)
    assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert turns(pipe, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response) == ("where is my order?", ORDER_JSON)


def test_an_async_parse_and_a_responses_parse_are_turns(pipe: Pipeline, instrumented: None) -> None:
    chat = FakeApi(reply_json(completion(ORDER_JSON)))

    async def call() -> Any:
        return await chat.async_client().chat.completions.parse(
            model=MODEL, messages=MESSAGES, response_format=OrderStatus
        )

    assert asyncio.run(call()).choices[0].message.parsed.eta == "Friday"
    responses = FakeApi(reply_json(response_json([output_message(ORDER_JSON)])))
    parsed = responses.client().responses.parse(model=MODEL, input="where is my order?", text_format=OrderStatus)
    assert parsed.output_parsed == OrderStatus(order="12345", eta="Friday")
    assert turns(pipe, "ok") == 2
    assert [e.assistant_response for e in pipe.runtime.prompt_log.entries] == [ORDER_JSON, ORDER_JSON]


def test_the_stream_helper_is_one_turn_through_create(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_sse(STREAM))
    with api.client().chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        for _ in stream:
            pass
        assert stream.get_final_completion().choices[0].message.content == "Your order ships today."
    assert turns(pipe, "ok") == 1 and sorted(s.name for s in pipe.spans()) == ONE_CALL
    assert dict(chat_span(pipe).attributes)[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert pipe.runtime.prompt_log.entries[0].assistant_response == "Your order ships today."


def test_a_responses_call_with_a_function_call(pipe: Pipeline, instrumented: None) -> None:
    output = [
        output_message("Let me look."),
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_7",
            "name": "get_order",
            "arguments": '{"id": 42}',
            "status": "completed",
        },
    ]
    api = FakeApi(reply_json(response_json(output)))
    result = api.client().responses.create(model=MODEL, instructions=SYSTEM, input="where is my order?", user="bob")

    assert result.output_text == "Let me look."
    span = chat_span(pipe)
    attrs = dict(span.attributes)
    assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (20, 8)
    assert dict(turn_span(pipe).attributes)[names.AI_SYSTEM_PROMPT_HASH] == pipe.runtime.prompt_hash(SYSTEM)
    assert attrs[names.GEN_AI_RESPONSE_ID] == "resp_1"
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("completed",)
    assert [dict(e.attributes)[names.GEN_AI_TOOL_NAME] for e in span.events] == ["get_order"]
    assert pipe.runtime.prompt_log.entries[0].user_message == "where is my order?"


def test_a_responses_content_filter_is_a_refusal(pipe: Pipeline, instrumented: None) -> None:
    body = response_json([], status="incomplete", incomplete="content_filter")
    FakeApi(reply_json(body)).client().responses.create(model=MODEL, input="hi")
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1


def test_a_responses_stream_is_read_from_its_final_event(pipe: Pipeline, instrumented: None) -> None:
    created = response_json([], status="in_progress")
    events = [
        {"type": "response.created", "sequence_number": 0, "response": created},
        {
            "type": "response.output_text.delta",
            "sequence_number": 1,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi there",
            "logprobs": [],
        },
        {"type": "response.completed", "sequence_number": 2, "response": response_json([output_message("Hi there")])},
    ]
    stream = FakeApi(reply_sse(events, done=False)).client().responses.create(model=MODEL, input="hi", stream=True)
    assert [e.type for e in stream][-1] == "response.completed"
    attrs = dict(chat_span(pipe).attributes)
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 8
    assert pipe.runtime.prompt_log.entries[0].assistant_response == "Hi there"


def test_a_beta_responses_call_is_a_turn(pipe: Pipeline) -> None:
    """`client.beta.responses` posts to the Responses API by itself: each client's is wrapped with the client."""
    api = FakeApi(reply_json(response_json([output_message("Hi there")])))
    mine, other = api.client(), api.client()
    instrument_openai(mine)
    try:
        other.beta.responses.create(model=MODEL, input="hi")
        assert pipe.spans() == []
        result = mine.beta.responses.create(model=MODEL, instructions=SYSTEM, input="hi")
    finally:
        uninstrument_openai()
    assert result.output[0].content[0].text == "Hi there" and "create" not in vars(mine.beta.responses)
    assert api.requests[-1].url.path == "/v1/responses"
    attrs = dict(chat_span(pipe).attributes)
    assert (attrs[names.GEN_AI_RESPONSE_ID], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == ("resp_1", 8)
    assert turns(pipe, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response) == ("hi", "Hi there")


# -- output check ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(hooks.Turn, "check_output"), reason="Turn.check_output is not in the hooks yet")
def test_check_output_redacts_the_reply_the_caller_gets() -> None:
    pipe_gen = use_pipeline(output_guard=PiiOutputGuard())
    pipe = next(pipe_gen)
    instrument_openai(check_output=True)
    try:
        leaked = completion("Write to jane.doe@example.com for help.")
        result = FakeApi(reply_json(leaked)).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        uninstrument_openai()
        pipe_gen.close()
    assert "jane.doe@example.com" not in result.choices[0].message.content
    assert "jane.doe@example.com" not in pipe.runtime.prompt_log.entries[0].assistant_response
    assert pipe.value(names.GUARDRAIL_DECISIONS, guardrail="pii", stage="output", decision="redact") == 1


def test_output_is_not_checked_unless_asked(pipe: Pipeline, instrumented: None) -> None:
    pipe.runtime.output_guard = PiiOutputGuard()
    leaked = completion("Write to jane.doe@example.com for help.")
    result = FakeApi(reply_json(leaked)).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert result.choices[0].message.content == "Write to jane.doe@example.com for help."
    assert sorted(s.name for s in pipe.spans()) == ONE_CALL


# -- patching -------------------------------------------------------------------------------------------------


def test_uninstrument_restores_the_sdk(pipe: Pipeline) -> None:
    original_async = AsyncCompletions.__dict__["create"]
    original_responses = Responses.__dict__["create"]
    original_parse = Completions.__dict__["parse"]
    original_beta = BetaResponses.__dict__["create"]
    instrument_openai()
    assert Completions.__dict__["create"] is not ORIGINAL_CREATE
    assert Completions.__dict__["parse"] is not original_parse
    assert BetaResponses.__dict__["create"] is not original_beta
    uninstrument_openai()
    assert BetaResponses.__dict__["create"] is original_beta
    assert Completions.__dict__["create"] is ORIGINAL_CREATE
    assert Completions.__dict__["parse"] is original_parse
    assert AsyncCompletions.__dict__["create"] is original_async
    assert Responses.__dict__["create"] is original_responses
    FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert pipe.spans() == []


def test_one_client_only(pipe: Pipeline) -> None:
    api = FakeApi(reply_json(completion()))
    mine, other = api.client(), api.client()
    instrument_openai(mine)
    try:
        assert Completions.__dict__["create"] is ORIGINAL_CREATE
        mine.chat.completions.create(model=MODEL, messages=MESSAGES)
        other.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        uninstrument_openai()
    assert sorted(s.name for s in pipe.spans()) == ONE_CALL and len(api.requests) == 2
    assert "create" not in vars(mine.chat.completions)


def test_a_client_instrumented_alone_can_still_be_freed(pipe: Pipeline) -> None:
    client = FakeApi(reply_json(completion())).client()
    instrument_openai(client)
    try:
        completions = weakref.ref(client.chat.completions)
        del client
        gc.collect()
        assert completions() is None
    finally:
        uninstrument_openai()


def test_a_client_instrumented_twice_still_makes_one_turn(pipe: Pipeline) -> None:
    client = FakeApi(reply_json(completion())).client()
    instrument_openai()
    instrument_openai()
    instrument_openai(client)
    try:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        uninstrument_openai()
    assert sorted(s.name for s in pipe.spans()) == ONE_CALL
    assert Completions.__dict__["create"] is ORIGINAL_CREATE


# -- what the model call records of the request ---------------------------------------------------------------

TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_order", "description": "Look an order up", "parameters": {"type": "object"}},
    }
]
HISTORY = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "where is order 42?"},
    {"role": "assistant", "content": None, "tool_calls": [tool_call("call_1", "get_order", '{"id": 42}')]},
    {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
]


def test_sampling_settings_and_the_server_go_on_the_model_call(pipe: Pipeline, instrumented: None) -> None:
    FakeApi(reply_json(completion())).client().chat.completions.create(
        model=MODEL, messages=MESSAGES, temperature=0.3, max_completion_tokens=200, top_p=0.5
    )
    attrs = dict(chat_span(pipe).attributes)
    assert attrs[names.GEN_AI_REQUEST_TEMPERATURE] == pytest.approx(0.3)
    assert attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 200 and attrs[names.GEN_AI_REQUEST_TOP_P] == pytest.approx(0.5)
    op = {
        names.GEN_AI_OPERATION_NAME: "chat",
        names.GEN_AI_PROVIDER_NAME: "openai",
        names.GEN_AI_REQUEST_MODEL: MODEL,
        names.GEN_AI_RESPONSE_MODEL: SERVED_MODEL,
        names.SERVER_ADDRESS: "openai.test",
        names.SERVER_PORT: 80,
    }
    assert pipe.value(names.OPERATION_DURATION, **op).count == 1
    assert pipe.value(names.TOKEN_USAGE, **op, **{names.GEN_AI_TOKEN_TYPE: "input"}).sum == 12


def test_content_capture_records_the_whole_history_and_the_tool_definitions() -> None:
    pipe_gen = use_pipeline(capture_content=True)
    pipe = next(pipe_gen)
    instrument_openai()
    try:
        calls = [tool_call("call_2", "refund", '{"amount": 10}')]
        reply = completion("Refunding.", finish="tool_calls", tool_calls=calls)
        FakeApi(reply_json(reply)).client().chat.completions.create(model=MODEL, messages=HISTORY, tools=TOOLS)
    finally:
        uninstrument_openai()
        pipe_gen.close()
    attrs = dict(chat_span(pipe).attributes)
    history = json.loads(attrs[names.GEN_AI_INPUT_MESSAGES])
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]  # the system prompt is the instructions
    assert history[1]["parts"] == [
        {"type": "tool_call", "name": "get_order", "arguments": '{"id": 42}', "id": "call_1"}
    ]
    assert history[2]["parts"] == [{"type": "tool_call_response", "response": "shipped", "id": "call_1"}]
    assert json.loads(attrs[names.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": SYSTEM}]
    assert json.loads(attrs[names.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "get_order", "description": "Look an order up", "parameters": {"type": "object"}}
    ]
    (output,) = json.loads(attrs[names.GEN_AI_OUTPUT_MESSAGES])
    assert output["finish_reason"] == "tool_calls"
    assert [p["type"] for p in output["parts"]] == ["text", "tool_call"]


def test_without_content_capture_no_message_reaches_a_span(pipe: Pipeline, instrumented: None) -> None:
    FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=HISTORY, tools=TOOLS)
    for span in pipe.spans():
        text = json.dumps(dict(span.attributes))
        assert "shipped" not in text and "where is order" not in text and "Look an order up" not in text


_INTEGRATIONS_SCRIPT = """
import json, httpx2, openai
from openai.resources.chat.completions import Completions
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
import otel_ai_incident as aii
original = Completions.__dict__["create"]
handle = aii.instrument(prometheus=False, prompt_log=False, integrations=["openai", "no-such-client"])
body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m-1",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}]}
transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=body))
client = openai.OpenAI(api_key="k", base_url="http://openai.test/v1", max_retries=0,
                       http_client=httpx2.Client(transport=transport))
client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
errors = handle.runtime.instruments.instrumentation_errors._sums
enabled = [i.name for i in handle.integrations]
handle.shutdown()
print(json.dumps({"spans": sorted(s.name for s in exporter.get_finished_spans()), "enabled": enabled,
                  "errors": {dict(k)["component"]: v for k, v in errors.items()},
                  "restored": Completions.__dict__["create"] is original}))
"""


def test_instrument_enables_integrations_by_name_and_survives_an_unknown_one() -> None:
    from processes import clean_env, run_script

    result = run_script(_INTEGRATIONS_SCRIPT, clean_env())
    assert result["spans"] == ["chat m", "invoke_agent"]
    assert result["enabled"] == ["openai"]
    assert result["errors"] == {"integrations": 1}
    assert result["restored"] is True  # shutdown() undid the patches


_ALL_INTEGRATIONS_SCRIPT = """
import json, os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
import litellm
import otel_ai_incident as aii
from langchain_core.language_models.fake_chat_models import FakeListChatModel
original = litellm.completion
handle = aii.instrument(prometheus=False, prompt_log=False,
                        integrations=["anthropic", "litellm", "langchain", "genai_spans"])
litellm.completion(model="anthropic/claude-x", messages=[{"role": "user", "content": "hi"}], mock_response="hello")
FakeListChatModel(responses=["hello"]).invoke("hi")
with trace.get_tracer("example.genai").start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat",
                                                                                 "gen_ai.request.model": "m"}):
    pass
turns = sum(handle.runtime.instruments.turns._sums.values())
enabled = [i.name for i in handle.integrations]
handle.shutdown()
print(json.dumps({"spans": sorted(s.name for s in exporter.get_finished_spans()), "enabled": enabled,
                  "turns": turns, "restored": litellm.completion is original}))
"""


def test_instrument_enables_the_other_integrations_by_name() -> None:
    from processes import clean_env, run_script

    result = run_script(_ALL_INTEGRATIONS_SCRIPT, clean_env())
    assert result["enabled"] == ["anthropic", "litellm", "langchain", "genai_spans"]
    assert result["spans"] == ["chat claude-x", "chat m", "chat unknown", "invoke_agent", "invoke_agent"]
    assert result["turns"] == 3  # LiteLLM's, LangChain's, and the bridged span's
    assert result["restored"] is True

"""The Anthropic integration against the real SDK, its HTTP layer mocked (no network): turns, streams, the gate."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pydantic
import pytest
from anthropic.resources.beta.messages import Messages as BetaMessages
from anthropic.resources.messages import Messages
from opentelemetry.trace import StatusCode

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.guardrails.output import PiiOutputGuard
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations import load
from otel_ai_incident.telemetry.integrations.anthropic import INTEGRATION
from telemetry_support import Pipeline
from test_openai_integration import FakeApi as RecordingApi
from test_openai_integration import Handler, KillSwitch, reply_json, use_pipeline

MODEL = "claude-sonnet-4-5"
SERVED_MODEL = "claude-sonnet-4-5-20250929"
SYSTEM = "You are the support assistant."
MESSAGES = [
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": [{"type": "text", "text": "where is my order?"}]},
]
ORIGINAL_CREATE = Messages.__dict__["create"]
ORIGINAL_PARSE = Messages.__dict__["parse"]
ORIGINAL_BETA_CREATE = BetaMessages.__dict__["create"]
TOOL_SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}}}
USAGE = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 2}


class FakeApi(RecordingApi):
    """The fake OpenAI API's recorder, answering Anthropic's clients."""

    def client(self) -> anthropic.Anthropic:
        transport = httpx2.MockTransport(self)
        return anthropic.Anthropic(
            api_key="test",
            base_url="http://anthropic.test",
            max_retries=0,
            http_client=httpx2.Client(transport=transport),
        )

    def async_client(self) -> anthropic.AsyncAnthropic:
        transport = httpx2.MockTransport(self)
        return anthropic.AsyncAnthropic(
            api_key="test",
            base_url="http://anthropic.test",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )


def message(content: list[dict[str, Any]] | None = None, stop: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": SERVED_MODEL,
        "content": content if content is not None else [{"type": "text", "text": "Your order ships today."}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": USAGE,
    }


def reply_sse(events: list[dict[str, Any]]) -> Handler:
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return lambda request: httpx2.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


def stream_events(blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]], stop: str = "end_turn") -> list[dict]:
    """message_start, each content block with its deltas, message_delta (stop reason, output usage)."""
    start = {**message([]), "stop_reason": None, "usage": {**USAGE, "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, (block, deltas) in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 5}})
    events.append({"type": "message_stop"})
    return events


TEXT_STREAM = stream_events(
    [
        (
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": "Your order "}, {"type": "text_delta", "text": "ships today."}],
        )
    ]
)


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    yield from use_pipeline()


@pytest.fixture
def instrumented() -> Iterator[None]:
    INTEGRATION.instrument()
    yield
    INTEGRATION.uninstrument()


def turns(pipe: Pipeline, outcome: str) -> Any:
    return pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: outcome})


def chat_attributes(pipe: Pipeline) -> dict[str, Any]:
    chat = pipe.span(f"chat {MODEL}")
    assert chat.parent.span_id == pipe.span("invoke_agent").context.span_id
    return dict(chat.attributes)


def create(client: Any, *, beta: bool = False, **kwargs: Any) -> Any:
    messages = client.beta.messages if beta else client.messages
    return messages.create(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES, **kwargs)


class Order(pydantic.BaseModel):
    order: str
    eta: str


ORDER_JSON = '{"order": "12345", "eta": "Friday"}'


def parse(messages: Any) -> Any:
    """A structured-output `parse` on a Messages resource (the Beta API's or not, sync or async)."""
    return messages.parse(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES, output_format=Order)


def assert_whole_turn(pipe: Pipeline) -> None:
    attrs = chat_attributes(pipe)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert (attrs[names.GEN_AI_RESPONSE_ID], attrs[names.GEN_AI_RESPONSE_MODEL]) == ("msg_1", SERVED_MODEL)
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    # The conventions' input tokens include the prompt cache's reads and writes, each also on its own.
    assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (42, 5)
    assert attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 30
    assert attrs[names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 2
    assert (attrs[names.SERVER_ADDRESS], attrs[names.SERVER_PORT]) == ("anthropic.test", 80)
    assert attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert dict(pipe.span("invoke_agent").attributes)[names.AI_SYSTEM_PROMPT_HASH] == pipe.runtime.prompt_hash(SYSTEM)
    assert turns(pipe, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response) == ("where is my order?", "Your order ships today.")
    assert (entry.input_tokens, entry.output_tokens) == (42, 5)
    assert pipe.records(names.OPERATION_DURATION.name) == 1


def test_a_message_becomes_a_turn(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_json(message()))
    result = create(api.client())
    assert result.content[0].text == "Your order ships today."
    assert len(api.requests) == 1
    assert_whole_turn(pipe)
    assert names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in chat_attributes(pipe)


def test_an_async_message(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_json(message()))
    result = asyncio.run(create(api.async_client()))
    assert result.content[0].text == "Your order ships today."
    assert_whole_turn(pipe)


def test_a_stream_ends_the_turn_when_exhausted(pipe: Pipeline, instrumented: None) -> None:
    stream = create(FakeApi(reply_sse(TEXT_STREAM)).client(), stream=True)
    assert pipe.spans() == []  # the turn lasts as long as the stream
    text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
    assert text == "Your order ships today."
    assert_whole_turn(pipe)
    attrs = chat_attributes(pipe)
    assert attrs[names.GEN_AI_REQUEST_STREAM] is True
    assert names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs


def test_the_stream_helper_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_sse(TEXT_STREAM))
    manager = api.client().messages.stream(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES)
    assert api.requests == [] and pipe.spans() == []  # nothing is sent before the manager is entered
    with manager as stream:
        assert stream.get_final_text() == "Your order ships today."
    assert_whole_turn(pipe)


def test_the_async_stream_helper_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_sse(TEXT_STREAM))

    async def call() -> str:
        manager = api.async_client().messages.stream(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES)
        async with manager as stream:
            return "".join([text async for text in stream.text_stream])

    assert asyncio.run(call()) == "Your order ships today."
    assert_whole_turn(pipe)


def test_a_structured_output_parse_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    """`parse` posts by itself, not through `create`: it is wrapped on its own, so the gate runs before it too."""
    api = FakeApi(reply_json(message([{"type": "text", "text": ORDER_JSON}])))
    assert parse(api.client().messages).parsed_output == Order(order="12345", eta="Friday")
    assert asyncio.run(parse(api.async_client().messages)).parsed_output.eta == "Friday"
    assert len(api.requests) == 2 and turns(pipe, "ok") == 2
    chats = [s for s in pipe.spans() if s.name == f"chat {MODEL}"]
    assert [dict(c.attributes)[names.GEN_AI_USAGE_INPUT_TOKENS] for c in chats] == [42, 42]
    assert [e.assistant_response for e in pipe.runtime.prompt_log.entries] == [ORDER_JSON, ORDER_JSON]


BETA_CALLS = {
    "create": lambda api: create(api.client(), beta=True).content[0].text,
    "async create": lambda api: asyncio.run(create(api.async_client(), beta=True)).content[0].text,
    "create stream": lambda api: "".join(
        e.delta.text for e in create(api.client(), beta=True, stream=True) if e.type == "content_block_delta"
    ),
    "stream helper": lambda api: _beta_stream_text(api.client()),
}


def _beta_stream_text(client: anthropic.Anthropic) -> str:
    with client.beta.messages.stream(model=MODEL, max_tokens=256, system=SYSTEM, messages=MESSAGES) as stream:
        return stream.get_final_text()


@pytest.mark.parametrize("call", sorted(BETA_CALLS))
def test_a_beta_api_call_is_a_whole_turn(pipe: Pipeline, instrumented: None, call: str) -> None:
    """`client.beta.messages`, which the Beta API's threads and tool runner send every request through."""
    streamed = call in ("create stream", "stream helper")
    api = FakeApi(reply_sse(TEXT_STREAM) if streamed else reply_json(message()))
    assert BETA_CALLS[call](api) == "Your order ships today."
    assert len(api.requests) == 1 and api.requests[0].url.path == "/v1/messages"
    assert_whole_turn(pipe)


def test_each_message_of_a_beta_thread_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    """A thread sends through `beta.messages.create`: each message is a turn, with the thread's history."""
    api = FakeApi(reply_json(message()))
    thread = api.client().beta.messages.thread(model=MODEL, max_tokens=256, system=SYSTEM)
    for question in ("where is my order?", "and the refund?"):
        assert thread.send({"role": "user", "content": question}).content[0].text == "Your order ships today."
    assert len(api.requests) == 2 and turns(pipe, "ok") == 2
    assert [e.user_message for e in pipe.runtime.prompt_log.entries] == ["where is my order?", "and the refund?"]


def test_a_beta_mcp_tool_use_block_is_a_requested_tool(pipe: Pipeline, instrumented: None) -> None:
    mcp = {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "search", "server_name": "docs", "input": {"q": "x"}}
    create(FakeApi(reply_json(message([mcp], stop="end_turn"))).client(), beta=True)
    events = pipe.span(f"chat {MODEL}").events
    assert [
        (dict(e.attributes)[names.GEN_AI_TOOL_NAME], dict(e.attributes)[names.GEN_AI_TOOL_CALL_ID]) for e in events
    ] == [("search", "mcptoolu_1")]


def test_tool_use_blocks_are_requested_tools() -> None:
    pipe_gen = use_pipeline(capture_content=True)
    pipe = next(pipe_gen)
    INTEGRATION.instrument()
    tool = {"type": "tool_use", "id": "toolu_1", "name": "get_order", "input": {}}
    streamed = stream_events(
        [
            (
                tool,
                [
                    {"type": "input_json_delta", "partial_json": '{"id": '},
                    {"type": "input_json_delta", "partial_json": "42}"},
                ],
            )
        ],
        stop="tool_use",
    )
    try:
        tools = [{"name": "get_order", "input_schema": TOOL_SCHEMA}]
        create(FakeApi(reply_json(message([{**tool, "input": {"id": 42}}], stop="tool_use"))).client(), tools=tools)
        list(create(FakeApi(reply_sse(streamed)).client(), stream=True))
    finally:
        INTEGRATION.uninstrument()
        pipe_gen.close()
    expected = {
        names.GEN_AI_TOOL_NAME: "get_order",
        names.GEN_AI_TOOL_CALL_ID: "toolu_1",
        names.GEN_AI_TOOL_CALL_ARGUMENTS: '{"id": 42}',
    }
    chats = [s for s in pipe.spans() if s.name == f"chat {MODEL}"]
    assert [[dict(e.attributes) for e in chat.events] for chat in chats] == [[expected], [expected]]
    assert dict(chats[0].attributes)[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert '"tool_call"' in dict(chats[0].attributes)[names.GEN_AI_OUTPUT_MESSAGES]
    history = json.loads(dict(chats[0].attributes)[names.GEN_AI_INPUT_MESSAGES])
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[-1]["parts"] == [{"type": "text", "content": "where is my order?"}]
    definitions = json.loads(dict(chats[0].attributes)[names.GEN_AI_TOOL_DEFINITIONS])
    assert definitions == [{"type": "function", "name": "get_order", "parameters": TOOL_SCHEMA}]


def test_a_refusal_stop_reason_counts_as_refusal(pipe: Pipeline, instrumented: None) -> None:
    create(FakeApi(reply_json(message([], stop="refusal"))).client())
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1
    assert dict(pipe.span("invoke_agent").attributes)[hooks.AI_REFUSAL] is True


def test_an_ordinary_reply_is_no_refusal(pipe: Pipeline, instrumented: None) -> None:
    create(FakeApi(reply_json(message())).client())
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 0


def test_an_api_error_reaches_the_caller_unchanged(pipe: Pipeline, instrumented: None) -> None:
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    with pytest.raises(anthropic.RateLimitError) as raised:
        create(FakeApi(reply_json(body, status=429)).client())
    assert raised.value.status_code == 429
    chat = pipe.span(f"chat {MODEL}")
    assert chat.status.status_code is StatusCode.ERROR
    assert dict(chat.attributes)[names.ERROR_TYPE] == "RateLimitError"
    assert turns(pipe, "error") == 1 and turns(pipe, "ok") == 0


def test_the_kill_switch_stops_every_call_before_any_request() -> None:
    pipe_gen = use_pipeline(gate=KillSwitch())
    pipe = next(pipe_gen)
    INTEGRATION.instrument()
    api = FakeApi(reply_json(message()))
    try:
        with pytest.raises(aii.ContainmentActive):
            create(api.client())
        with pytest.raises(aii.ContainmentActive):
            create(api.client(), stream=True)
        with pytest.raises(aii.ContainmentActive):
            api.client().messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES)
        with pytest.raises(aii.ContainmentActive):
            asyncio.run(create(api.async_client()))
        with pytest.raises(aii.ContainmentActive):
            parse(api.client().messages)
        with pytest.raises(aii.ContainmentActive):
            asyncio.run(parse(api.async_client().messages))
        with pytest.raises(aii.ContainmentActive):
            create(api.client(), beta=True)
        with pytest.raises(aii.ContainmentActive):
            parse(api.client().beta.messages)
        with pytest.raises(aii.ContainmentActive):
            api.client().beta.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES)
        with pytest.raises(aii.ContainmentActive):
            asyncio.run(create(api.async_client(), beta=True, stream=True))
    finally:
        INTEGRATION.uninstrument()
        pipe_gen.close()
    assert api.requests == []
    assert [s.name for s in pipe.spans()] == ["invoke_agent"] * 10
    assert turns(pipe, "contained") == 10


def test_check_output_redacts_the_reply_the_caller_gets() -> None:
    pipe_gen = use_pipeline(output_guard=PiiOutputGuard())
    pipe = next(pipe_gen)
    INTEGRATION.instrument(check_output=True)
    try:
        leaked = message([{"type": "text", "text": "Write to jane.doe@example.com for help."}])
        result = create(FakeApi(reply_json(leaked)).client())
    finally:
        INTEGRATION.uninstrument()
        pipe_gen.close()
    assert "jane.doe@example.com" not in result.content[0].text
    assert "jane.doe@example.com" not in pipe.runtime.prompt_log.entries[0].assistant_response


def test_one_client_only_and_uninstrument_restores(pipe: Pipeline) -> None:
    api = FakeApi(reply_json(message()))
    mine, other = api.client(), api.client()
    INTEGRATION.instrument(mine)
    try:
        create(other)
        create(other, beta=True)
        assert pipe.spans() == []
        create(mine, beta=True)
        assert turns(pipe, "ok") == 1
        with aii.turn_context(user_id="alice", session_id="s-1"):
            create(mine)
    finally:
        INTEGRATION.uninstrument()
    assert Messages.__dict__["create"] is ORIGINAL_CREATE and "create" not in vars(mine.messages)
    assert not {"create", "parse", "stream"} & set(vars(mine.beta.messages))
    INTEGRATION.instrument()
    INTEGRATION.uninstrument()
    assert (Messages.__dict__["parse"], BetaMessages.__dict__["create"]) == (ORIGINAL_PARSE, ORIGINAL_BETA_CREATE)
    turn = pipe.spans()[-1]
    assert turn.name == "invoke_agent"
    assert turn.attributes[names.ENDUSER_PSEUDO_ID] == pipe.runtime.pseudonymizer.pseudonymize("alice")
    assert turn.attributes[names.GEN_AI_CONVERSATION_ID] == "s-1"


def test_the_user_comes_from_the_request_metadata(pipe: Pipeline, instrumented: None) -> None:
    create(FakeApi(reply_json(message())).client(), metadata={"user_id": "bob"})
    (entry,) = pipe.runtime.prompt_log.entries
    assert entry.user_pseudonym == pipe.runtime.pseudonymizer.pseudonymize("bob")


def test_instrument_enables_it_by_name() -> None:
    assert load("anthropic") is INTEGRATION


def test_a_stream_manager_never_entered_sends_nothing_and_ends_its_turn(pipe: Pipeline, instrumented: None) -> None:
    api = FakeApi(reply_sse(TEXT_STREAM))
    manager = api.client().messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES)
    assert pipe.spans() == []
    del manager
    gc.collect()
    assert api.requests == []
    assert turns(pipe, "ok") == 1 and pipe.runtime.prompt_log.entries[0].assistant_response is None

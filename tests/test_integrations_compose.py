"""One request, one turn and one `chat` span, however the layers stack: a client integration inside the app's own
`llm_turn` (the request is a model call of that turn), inside the app's own `model_call()` (nothing added),
under another instrumented client (LiteLLM sending through OpenAI's SDK) or under a LangChain chat model."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the model price list

import litellm
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from opentelemetry.trace import SpanKind

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.telemetry.integrations import anthropic as anthropic_integration
from otel_ai_incident.telemetry.integrations import langchain as langchain_integration
from otel_ai_incident.telemetry.integrations import litellm as litellm_integration
from otel_ai_incident.telemetry.integrations.openai import instrument_openai, uninstrument_openai
from telemetry_support import Pipeline
from test_anthropic_integration import TEXT_STREAM
from test_anthropic_integration import FakeApi as AnthropicApi
from test_anthropic_integration import message as anthropic_message
from test_anthropic_integration import reply_sse as anthropic_sse
from test_langchain_integration import ANSWER as LANGCHAIN_ANSWER
from test_langchain_integration import FakeModel
from test_openai_integration import MESSAGES, MODEL, STREAM, FakeApi, KillSwitch, completion, reply_json, use_pipeline
from test_openai_integration import reply_sse as openai_sse

APP_MODEL = "support-bot"  # what the app's own turn names, not the model its client then asks
ANSWER = "Your order ships today."


class SwitchableGate(KillSwitch):
    """Open until `close()`: a kill switch set while a turn is under way."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def turn_blocked(self, user_pseudonym: str | None) -> tuple[str, None] | None:
        return super().turn_blocked(user_pseudonym) if self.closed else None


@pytest.fixture
def gate() -> SwitchableGate:
    return SwitchableGate()


@pytest.fixture
def pipe(gate: SwitchableGate) -> Iterator[Pipeline]:
    yield from use_pipeline(gate=gate)


@pytest.fixture
def openai_on() -> Iterator[None]:
    instrument_openai()
    yield
    uninstrument_openai()


def span_names(pipe: Pipeline) -> list[str]:
    return sorted(s.name for s in pipe.spans())


def app_turns(pipe: Pipeline, outcome: str = "ok") -> Any:
    return pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: APP_MODEL, names.OUTCOME: outcome})


def ask(api: FakeApi) -> str:
    return api.client().chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content


def test_a_client_call_in_the_apps_turn_is_a_model_call_of_that_turn(pipe: Pipeline, openai_on: None) -> None:
    api = FakeApi(reply_json(completion(ANSWER)))
    with aii.llm_turn(model=APP_MODEL, user_id="alice", user_message="where is my order?") as turn:
        text = ask(api)
        turn.complete(text.upper())  # what the app shows, after its own checks

    assert span_names(pipe) == [f"chat {MODEL}", "invoke_agent"]
    chat, app = pipe.span(f"chat {MODEL}"), pipe.span("invoke_agent")
    assert chat.parent.span_id == app.context.span_id and chat.kind is SpanKind.CLIENT
    attrs = dict(chat.attributes)
    assert (attrs[names.GEN_AI_REQUEST_MODEL], attrs[names.GEN_AI_PROVIDER_NAME]) == (MODEL, "openai")
    assert (attrs[names.SERVER_ADDRESS], attrs[names.GEN_AI_USAGE_INPUT_TOKENS]) == ("openai.test", 12)
    assert app_turns(pipe) == 1 and pipe.records(names.OPERATION_DURATION.name) == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.model, entry.assistant_response) == (APP_MODEL, ANSWER.upper())
    assert (entry.input_tokens, entry.output_tokens) == (12, 5)
    assert entry.user_pseudonym == pipe.runtime.pseudonymizer.pseudonymize("alice")


def test_the_gate_is_asked_again_before_each_request_of_the_apps_turn(
    pipe: Pipeline, gate: SwitchableGate, openai_on: None
) -> None:
    """An agent loop in one turn: a kill switch set after its first request stops the second before it leaves."""
    api = FakeApi(reply_json(completion(ANSWER)))
    with pytest.raises(aii.ContainmentActive), aii.llm_turn(model=APP_MODEL) as turn:
        ask(api)
        gate.close()
        ask(api)
        turn.complete("never reached")
    assert len(api.requests) == 1
    assert app_turns(pipe, "contained") == 1 and app_turns(pipe) == 0
    assert pipe.value(names.CONTAINMENT_ENFORCED, action="kill_switch") == 1
    assert dict(pipe.span("invoke_agent").attributes)[names.AI_CONTAINMENT_ACTION] == "kill_switch"


def test_an_async_client_call_in_the_apps_async_turn(pipe: Pipeline, openai_on: None) -> None:
    api = FakeApi(reply_json(completion(ANSWER)))

    async def handle() -> str:
        async with aii.llm_turn(model=APP_MODEL) as turn:
            reply = await api.async_client().chat.completions.create(model=MODEL, messages=MESSAGES)
            turn.complete(reply.choices[0].message.content)
            return reply.choices[0].message.content

    assert asyncio.run(handle()) == ANSWER
    assert span_names(pipe) == [f"chat {MODEL}", "invoke_agent"] and app_turns(pipe) == 1


def test_a_stream_in_the_apps_turn_ends_its_model_call_not_the_turn(pipe: Pipeline, openai_on: None) -> None:
    chunks = [
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": [delta]}
        for delta in (
            {"index": 0, "delta": {"role": "assistant", "content": "Your order "}, "finish_reason": None},
            {"index": 0, "delta": {"content": "ships today."}, "finish_reason": "stop"},
        )
    ]
    api = FakeApi(openai_sse(chunks))
    with aii.llm_turn(model=APP_MODEL) as turn:
        stream = api.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream)
        assert [s.name for s in pipe.spans()] == [f"chat {MODEL}"]  # the request is done, the turn goes on
        turn.complete(text)
    assert text == ANSWER and span_names(pipe) == [f"chat {MODEL}", "invoke_agent"]
    assert pipe.runtime.prompt_log.entries[0].assistant_response == ANSWER


def test_a_client_call_in_the_apps_own_model_call_adds_nothing(pipe: Pipeline, openai_on: None) -> None:
    api = FakeApi(reply_json(completion(ANSWER)))
    with aii.llm_turn(model=APP_MODEL) as turn, turn.model_call(model=MODEL) as call:
        ask(api)
        call.reply(aii.ModelReply(input_tokens=12, output_tokens=5))
    assert span_names(pipe) == [f"chat {MODEL}", "invoke_agent"]
    assert pipe.records(names.OPERATION_DURATION.name) == 1 and len(api.requests) == 1


def test_anthropics_stream_helper_in_the_apps_model_call_adds_nothing(pipe: Pipeline) -> None:
    api = AnthropicApi(anthropic_sse(TEXT_STREAM))
    anthropic_integration.INTEGRATION.instrument()
    try:
        stream = api.client().messages.stream
        with (
            aii.llm_turn(model=APP_MODEL) as turn,
            turn.model_call(model="claude-sonnet-4-5"),
            stream(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES[1:]) as streamed,
        ):
            assert streamed.get_final_text() == ANSWER
    finally:
        anthropic_integration.INTEGRATION.uninstrument()
    assert span_names(pipe) == ["chat claude-sonnet-4-5", "invoke_agent"] and app_turns(pipe) == 1


def test_anthropic_in_the_apps_turn_names_its_own_provider(pipe: Pipeline) -> None:
    anthropic_integration.INTEGRATION.instrument()
    try:
        with aii.llm_turn(model=APP_MODEL, provider="openai") as turn:
            reply = (
                AnthropicApi(reply_json(anthropic_message()))
                .client()
                .messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES[1:])
            )
            turn.complete(reply.content[0].text)
    finally:
        anthropic_integration.INTEGRATION.uninstrument()
    assert dict(pipe.span("chat claude-sonnet-4-5").attributes)[names.GEN_AI_PROVIDER_NAME] == "anthropic"
    (point,) = pipe.points(names.OPERATION_DURATION)
    assert dict(point)[names.GEN_AI_PROVIDER_NAME] == "anthropic"


def test_litellm_over_the_openai_sdk_is_one_turn_with_both_integrations_on(pipe: Pipeline, openai_on: None) -> None:
    """An `openai/` model through LiteLLM, with the OpenAI integration on as well: one call, one turn."""
    api = FakeApi(reply_json(completion(ANSWER)))
    litellm_integration.INTEGRATION.instrument()
    try:
        result = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, client=api.client(), api_key="test")
    finally:
        litellm_integration.INTEGRATION.uninstrument()
    assert result.choices[0].message.content == ANSWER and len(api.requests) == 1
    assert span_names(pipe) == [f"chat {MODEL}", "invoke_agent"]
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"}) == 1
    assert pipe.records(names.OPERATION_DURATION.name) == 1 and len(pipe.runtime.prompt_log.entries) == 1


def test_a_langchain_run_in_the_apps_turn_is_part_of_it(pipe: Pipeline, gate: SwitchableGate) -> None:
    model = FakeModel(responses=[LANGCHAIN_ANSWER, LANGCHAIN_ANSWER])
    langchain_integration.INTEGRATION.instrument()
    try:
        with pytest.raises(aii.ContainmentActive), aii.llm_turn(model=APP_MODEL) as turn:
            turn.complete(model.invoke([HumanMessage("where is my order?")]).content)
            gate.close()
            model.invoke([HumanMessage("and the refund?")])
    finally:
        langchain_integration.INTEGRATION.uninstrument()
    assert model.calls == 1
    assert span_names(pipe) == [f"chat {FakeModel.model_fields['model'].default}", "invoke_agent"]
    assert app_turns(pipe, "contained") == 1
    assert pipe.runtime.prompt_log.entries[0].assistant_response == ANSWER


class ChatOpenAI(BaseChatModel):
    """A LangChain chat model that sends through OpenAI's SDK as langchain-openai's does (`chat.completions.create`,
    not installed here); the class name gives it LangChain's `ls_provider` "openai"."""

    api: Any
    model: str = MODEL

    @property
    def _llm_type(self) -> str:
        return "openai-chat"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        reply = self.api.client().chat.completions.create(model=self.model, messages=_as_openai(messages))
        return _chat_result(reply)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        reply = await self.api.async_client().chat.completions.create(model=self.model, messages=_as_openai(messages))
        return _chat_result(reply)

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        stream = self.api.client().chat.completions.create(
            model=self.model, messages=_as_openai(messages), stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield ChatGenerationChunk(message=AIMessageChunk(content=chunk.choices[0].delta.content))


def _as_openai(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    return [{"role": "user" if m.type == "human" else m.type, "content": m.content} for m in messages]


def _chat_result(reply: Any) -> ChatResult:
    usage = reply.usage
    message = AIMessage(
        reply.choices[0].message.content,
        usage_metadata={
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        response_metadata={"finish_reason": reply.choices[0].finish_reason, "id": reply.id},
    )
    return ChatResult(generations=[ChatGeneration(message=message)])


@pytest.fixture
def langchain_and_openai_on(openai_on: None) -> Iterator[None]:
    langchain_integration.INTEGRATION.instrument()
    yield
    langchain_integration.INTEGRATION.uninstrument()


def model_turns(pipe: Pipeline, outcome: str = "ok") -> Any:
    return pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: outcome})


QUESTION = [HumanMessage("where is my order?")]


def test_a_langchain_model_over_an_instrumented_client_is_one_turn(
    pipe: Pipeline, langchain_and_openai_on: None
) -> None:
    """Both integrations on, as an app enables them: LangChain's model call is the request's only `chat` span;
    once the run is over, a request of the app's own is traced by the client integration again."""
    api = FakeApi(reply_json(completion(ANSWER)))
    assert ChatOpenAI(api=api).invoke(QUESTION).content == ANSWER
    assert span_names(pipe) == [f"chat {MODEL}", "invoke_agent"] and len(api.requests) == 1
    assert model_turns(pipe) == 1 and pipe.records(names.OPERATION_DURATION.name) == 1
    chat = dict(pipe.span(f"chat {MODEL}").attributes)
    assert (chat[names.GEN_AI_PROVIDER_NAME], chat[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == ("openai", 5)
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response) == ("where is my order?", ANSWER)

    ask(api)
    assert model_turns(pipe) == 2 and pipe.records(names.OPERATION_DURATION.name) == 2
    assert dict(pipe.spans()[-2].attributes)[names.SERVER_ADDRESS] == "openai.test"  # the client's own call


def test_an_async_langchain_model_over_an_instrumented_client_is_one_turn(
    pipe: Pipeline, langchain_and_openai_on: None
) -> None:
    """LangChain ends an async model call in a task of its own, so the claim it made cannot be undone in the
    caller's context: it lapses with the call, and the app's next request is traced."""
    api = FakeApi(reply_json(completion(ANSWER)))

    async def run() -> None:
        assert (await ChatOpenAI(api=api).ainvoke(QUESTION)).content == ANSWER
        assert model_turns(pipe) == 1 and pipe.records(names.OPERATION_DURATION.name) == 1
        await api.async_client().chat.completions.create(model=MODEL, messages=MESSAGES)

    asyncio.run(run())
    assert len(api.requests) == 2 and model_turns(pipe) == 2
    assert pipe.records(names.OPERATION_DURATION.name) == 2 and len(pipe.runtime.prompt_log.entries) == 2


def test_a_streamed_langchain_model_over_an_instrumented_client_is_one_turn(
    pipe: Pipeline, langchain_and_openai_on: None
) -> None:
    api = FakeApi(openai_sse(STREAM))
    assert "".join(c.content for c in ChatOpenAI(api=api).stream(QUESTION)) == ANSWER
    assert span_names(pipe) == [f"chat {MODEL}", "invoke_agent"] and model_turns(pipe) == 1
    assert pipe.runtime.prompt_log.entries[0].assistant_response == ANSWER
    api.handler = reply_json(completion(ANSWER))
    ask(api)
    assert model_turns(pipe) == 2


def test_the_kill_switch_stops_a_langchain_model_over_an_instrumented_client(
    pipe: Pipeline, gate: SwitchableGate, langchain_and_openai_on: None
) -> None:
    api = FakeApi(reply_json(completion(ANSWER)))
    gate.close()
    with pytest.raises(aii.ContainmentActive):
        ChatOpenAI(api=api).invoke(QUESTION)
    assert api.requests == [] and model_turns(pipe, "contained") == 1 and not model_turns(pipe)

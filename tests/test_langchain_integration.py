"""The LangChain callback handler with langchain-core's fake chat model and a real tool: turns, model calls,
tool calls with the anomaly scorer, and the gate stopping a run before the model is asked anything."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

import otel_ai_incident as aii
from otel_ai_incident import names
from otel_ai_incident.guardrails.anomaly import ToolArgumentScorer
from otel_ai_incident.telemetry.integrations import langchain as langchain_integration
from otel_ai_incident.telemetry.integrations import load
from otel_ai_incident.telemetry.integrations.langchain import INTEGRATION, LangChainTurnHandler
from telemetry_support import Pipeline
from test_openai_integration import KillSwitch, use_pipeline

MODEL = "fake-chat-1"
PROMPT = [SystemMessage("You are the support assistant."), HumanMessage("where is my order?")]
USAGE = {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
ANSWER = AIMessage(
    "Your order ships today.", usage_metadata=USAGE, response_metadata={"finish_reason": "stop", "id": "resp-1"}
)
TOOL_REQUEST = AIMessage(
    "",
    tool_calls=[{"name": "get_order", "args": {"order_id": 42}, "id": "call_1"}],
    usage_metadata=USAGE,
    response_metadata={"finish_reason": "tool_calls"},
)


class FakeModel(FakeMessagesListChatModel):
    """The fake chat model with a model name (LangChain reports it as `ls_model_name`) and a call count."""

    model: str = MODEL
    calls: int = 0

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super()._generate(*args, **kwargs)


class FailingModel(FakeModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise TimeoutError("the model did not answer")


ran: list[int] = []


@tool
def get_order(order_id: int) -> str:
    """Look an order up."""
    ran.append(order_id)
    return f"order {order_id}: shipped"


class ToolContained(KillSwitch):
    def turn_blocked(self, user_pseudonym: str | None) -> None:
        return None

    def tool_blocked(self, tool: str, writes: bool) -> tuple[str, None]:
        return names.ContainmentActionName.DISABLE_TOOL.value, None


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    ran.clear()
    yield from use_pipeline(tool_scorer=ToolArgumentScorer())


@pytest.fixture
def instrumented() -> Iterator[None]:
    INTEGRATION.instrument()
    yield
    INTEGRATION.uninstrument()


def turns(pipe: Pipeline, outcome: str) -> Any:
    return pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: outcome})


def chat_spans(pipe: Pipeline) -> list[Any]:
    return [s for s in pipe.spans() if s.name == f"chat {MODEL}"]


def test_a_chat_model_call_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    with aii.turn_context(user_id="alice", session_id="s-1"):
        result = FakeModel(responses=[ANSWER]).invoke(PROMPT)
    assert result.content == "Your order ships today."
    (chat,) = chat_spans(pipe)
    turn = pipe.span("invoke_agent")
    assert chat.parent.span_id == turn.context.span_id
    attrs = dict(chat.attributes)
    assert (attrs[names.GEN_AI_USAGE_INPUT_TOKENS], attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[names.GEN_AI_RESPONSE_ID] == "resp-1"
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "fakemodel"  # LangChain's `ls_provider`, from the class name
    assert turn.attributes[names.ENDUSER_PSEUDO_ID] == pipe.runtime.pseudonymizer.pseudonymize("alice")
    assert turns(pipe, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response) == ("where is my order?", "Your order ships today.")
    assert (entry.input_tokens, entry.output_tokens) == (12, 5)
    assert entry.system_prompt == "You are the support assistant."


def test_an_agent_run_is_one_turn_with_its_model_and_tool_calls(pipe: Pipeline, instrumented: None) -> None:
    model = FakeModel(responses=[TOOL_REQUEST, ANSWER])

    def agent(messages: list[Any]) -> Any:
        request = model.invoke(messages)
        results = [get_order.invoke(call) for call in request.tool_calls]
        return model.invoke([*messages, request, *results])

    result = RunnableLambda(agent).invoke(PROMPT)
    assert result.content == "Your order ships today." and ran == [42]
    first, second = chat_spans(pipe)
    (tool_span,) = [s for s in pipe.spans() if s.name == "execute_tool get_order"]
    turn = pipe.span("invoke_agent")
    assert {first.parent.span_id, second.parent.span_id, tool_span.parent.span_id} == {turn.context.span_id}
    assert [dict(e.attributes) for e in first.events] == [
        {names.GEN_AI_TOOL_NAME: "get_order", names.GEN_AI_TOOL_CALL_ID: "call_1"}
    ]
    assert tool_span.attributes[names.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert names.AI_TOOL_ANOMALY_SCORE in tool_span.attributes  # scored by the tool-argument scorer
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "get_order", names.OUTCOME: "ok"}) == 1
    assert turns(pipe, "ok") == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert entry.assistant_response == "Your order ships today."
    assert (entry.input_tokens, entry.output_tokens) == (24, 10)  # both model calls
    assert [(c["tool"], c["arguments"], c["outcome"]) for c in entry.tool_calls] == [
        ("get_order", {"order_id": 42}, "ok")
    ]


def test_an_async_call_is_a_turn(pipe: Pipeline, instrumented: None) -> None:
    result = asyncio.run(FakeModel(responses=[ANSWER]).ainvoke(PROMPT))
    assert result.content == "Your order ships today."
    assert len(chat_spans(pipe)) == 1 and turns(pipe, "ok") == 1


def test_the_kill_switch_stops_the_run_before_the_model_is_asked() -> None:
    pipe_gen = use_pipeline(gate=KillSwitch())
    pipe = next(pipe_gen)
    INTEGRATION.instrument()
    model = FakeModel(responses=[ANSWER])
    try:
        with pytest.raises(aii.ContainmentActive):
            model.invoke(PROMPT)
        with pytest.raises(aii.ContainmentActive):
            asyncio.run(model.ainvoke(PROMPT))
    finally:
        INTEGRATION.uninstrument()
        pipe_gen.close()
    assert model.calls == 0
    assert chat_spans(pipe) == [] and turns(pipe, "contained") == 2


def test_a_contained_tool_does_not_run(pipe: Pipeline, instrumented: None) -> None:
    pipe.runtime.gate = ToolContained()
    model = FakeModel(responses=[TOOL_REQUEST])

    def agent(messages: list[Any]) -> Any:
        return [get_order.invoke(call) for call in model.invoke(messages).tool_calls]

    with pytest.raises(aii.ContainmentActive):
        RunnableLambda(agent).invoke(PROMPT)
    assert ran == []
    assert pipe.value(names.TOOL_CALLS, **{names.GEN_AI_TOOL_NAME: "get_order", names.OUTCOME: "blocked"}) == 1
    assert turns(pipe, "contained") == 1


def test_a_model_error_reaches_the_caller_unchanged(pipe: Pipeline, instrumented: None) -> None:
    with pytest.raises(TimeoutError, match="did not answer"):
        FailingModel(responses=[ANSWER]).invoke(PROMPT)
    (chat,) = chat_spans(pipe)
    assert chat.attributes[names.ERROR_TYPE] == "TimeoutError"
    assert turns(pipe, "error") == 1


def test_a_reply_that_cannot_be_read_still_ends_the_model_call_and_the_turn(
    pipe: Pipeline, instrumented: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(response: Any) -> Any:
        raise ValueError("a reply shape of a future LangChain")

    monkeypatch.setattr(langchain_integration, "chat_reply", unreadable)
    result = FakeModel(responses=[ANSWER]).invoke(PROMPT)

    assert result.content == "Your order ships today."  # the app gets its answer
    (chat,) = chat_spans(pipe)
    assert chat.end_time is not None and pipe.span("invoke_agent").end_time is not None
    assert turns(pipe, "ok") == 1
    errors = pipe.value(names.INSTRUMENTATION_ERRORS, **{names.COMPONENT: langchain_integration.COMPONENT})
    assert errors == 1


def test_a_content_filter_finish_is_a_refusal(pipe: Pipeline, instrumented: None) -> None:
    refused = AIMessage("", response_metadata={"finish_reason": "content_filter"})
    FakeModel(responses=[refused]).invoke(PROMPT)
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1


def test_a_handler_of_ones_own_covers_its_run_and_uninstrument_stops_the_integration(pipe: Pipeline) -> None:
    INTEGRATION.instrument()
    INTEGRATION.uninstrument()
    FakeModel(responses=[ANSWER]).invoke(PROMPT)
    assert pipe.spans() == []
    FakeModel(responses=[ANSWER]).invoke(PROMPT, config={"callbacks": [LangChainTurnHandler()]})
    assert len(chat_spans(pipe)) == 1 and turns(pipe, "ok") == 1
    assert load("langchain") is INTEGRATION


def test_content_capture_records_the_input_history_and_the_reply() -> None:
    pipe_gen = use_pipeline(capture_content=True)
    pipe = next(pipe_gen)
    INTEGRATION.instrument()
    try:
        FakeModel(responses=[ANSWER]).invoke(PROMPT)
    finally:
        INTEGRATION.uninstrument()
        pipe_gen.close()
    attrs = dict(chat_spans(pipe)[0].attributes)
    assert json.loads(attrs[names.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "where is my order?"}]}
    ]
    assert json.loads(attrs[names.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "You are the support assistant."}
    ]
    assert "Your order ships today." in attrs[names.GEN_AI_OUTPUT_MESSAGES]


def test_a_streamed_reply_is_recorded_when_the_stream_ends(pipe: Pipeline, instrumented: None) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("Your order ships today.")]))
    chunks = [chunk.content for chunk in model.stream(PROMPT)]
    assert len(chunks) > 1 and "".join(chunks) == "Your order ships today."
    generic = "chat unknown"  # the generic fake model names no model
    assert [s.name for s in pipe.spans()].count(generic) == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert entry.assistant_response == "Your order ships today."


def test_a_kill_switch_set_during_an_agent_run_stops_its_next_model_call(pipe: Pipeline, instrumented: None) -> None:
    model = FakeModel(responses=[TOOL_REQUEST, ANSWER])

    def agent(messages: list[Any]) -> Any:
        request = model.invoke(messages)
        results = [get_order.invoke(call) for call in request.tool_calls]
        pipe.runtime.gate = KillSwitch()  # set by an operator while the agent works
        return model.invoke([*messages, request, *results])

    with pytest.raises(aii.ContainmentActive):
        RunnableLambda(agent).invoke(PROMPT)
    assert model.calls == 1 and ran == [42]
    assert len(chat_spans(pipe)) == 1
    assert turns(pipe, "contained") == 1 and turns(pipe, "ok") == 0
    (entry,) = pipe.runtime.prompt_log.entries
    assert entry.outcome == "contained" and [c["tool"] for c in entry.tool_calls] == ["get_order"]

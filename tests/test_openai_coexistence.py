"""Side by side with OpenTelemetry's own OpenAI instrumentation (opentelemetry-instrumentation-openai-v2).

Both active on the real OpenAI client (its HTTP layer mocked): one call must give one `chat` span and one
duration record, so rules and dashboards count each call once, while our turn, gate and prompt log stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai.resources.chat.completions import Completions
from opentelemetry import trace

import otel_ai_incident as aii
from conftest import missing
from otel_ai_incident import names
from otel_ai_incident.telemetry.integrations.genai_hook import TurnCompletionHook
from otel_ai_incident.telemetry.integrations.openai import instrument_openai, uninstrument_openai
from otel_ai_incident.telemetry.integrations.openai_api import other_instrumentation_active
from telemetry_support import Pipeline
from test_openai_integration import (
    MESSAGES,
    MODEL,
    STREAM,
    FakeApi,
    KillSwitch,
    completion,
    reply_json,
    reply_sse,
    tool_call,
    use_pipeline,
)

try:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
except ImportError as error:  # pragma: no cover - depends on the environment
    OpenAIInstrumentor = None
    IMPORT_ERROR: object = error

DURATION = names.OPERATION_DURATION.name


def _official(pipe: Pipeline, **options: Any) -> Any:
    if OpenAIInstrumentor is None:
        missing(f"opentelemetry-instrumentation-openai-v2 is not installed ({IMPORT_ERROR})")
    return pipe.instrument(OpenAIInstrumentor(), **options)


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    yield from use_pipeline()


@pytest.fixture(params=["official first", "ours first"])
def both(request: pytest.FixtureRequest, pipe: Pipeline) -> Iterator[str]:
    """Both instrumentations on, in either order, and off again in the reverse order (a patch can only be undone
    while it is the outermost one)."""
    if request.param == "official first":
        official = _official(pipe)
        instrument_openai()
        yield request.param
        uninstrument_openai()
        official.uninstrument()
    else:
        instrument_openai()
        official = _official(pipe)
        yield request.param
        official.uninstrument()
        uninstrument_openai()


def _chat_spans(pipe: Pipeline) -> list[Any]:
    return [s for s in pipe.spans() if s.name == f"chat {MODEL}"]


def test_one_call_gives_one_chat_span_and_one_duration_record(pipe: Pipeline, both: str) -> None:
    api = FakeApi(reply_json(completion()))
    with aii.turn_context(user_id="alice", session_id="s-1"):
        result = api.client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert result.choices[0].message.content == "Your order ships today."
    assert len(api.requests) == 1

    (chat,) = _chat_spans(pipe)
    assert chat.instrumentation_scope.name != names.INSTRUMENTATION_SCOPE  # theirs traces the request, ours none
    assert pipe.records(DURATION) == 1
    assert pipe.records(names.INFERENCE_DURATION.name) == 0
    (turn,) = [s for s in pipe.spans() if s.name == "invoke_agent"]
    if both == "official first":  # ours wraps theirs: the request runs inside our turn
        assert chat.parent.span_id == turn.context.span_id
    assert turn.attributes[names.ENDUSER_PSEUDO_ID] == pipe.runtime.pseudonymizer.pseudonymize("alice")
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.input_tokens, entry.output_tokens) == (12, 5)  # usage read from the reply, counted by theirs
    assert entry.assistant_response == "Your order ships today." and entry.user_message == "where is my order?"
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"}) == 1


def test_our_chat_span_returns_when_the_official_instrumentation_is_removed(pipe: Pipeline) -> None:
    official = _official(pipe)
    assert other_instrumentation_active()
    official.uninstrument()
    assert not other_instrumentation_active()
    instrument_openai()
    try:
        FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        uninstrument_openai()
    (chat,) = _chat_spans(pipe)
    assert chat.instrumentation_scope.name == names.INSTRUMENTATION_SCOPE
    assert pipe.records(DURATION) == 1


def test_the_gate_still_stops_the_call_before_any_request() -> None:
    pipe_gen = use_pipeline(gate=KillSwitch())
    pipe = next(pipe_gen)
    official = _official(pipe)
    instrument_openai()
    api = FakeApi(reply_json(completion()))
    try:
        with pytest.raises(aii.ContainmentActive):
            api.client().chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        uninstrument_openai()
        official.uninstrument()
        pipe_gen.close()
    assert api.requests == [] and _chat_spans(pipe) == []
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "contained"}) == 1


def test_requested_tools_are_recorded_on_the_turn_when_the_request_is_traced_elsewhere(
    pipe: Pipeline, both: str
) -> None:
    calls = [tool_call("call_1", "get_order", '{"id": 42}')]
    FakeApi(reply_json(completion(None, finish="tool_calls", tool_calls=calls))).client().chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    (turn,) = [s for s in pipe.spans() if s.name == "invoke_agent"]
    assert [dict(e.attributes) for e in turn.events] == [
        {names.GEN_AI_TOOL_NAME: "get_order", names.GEN_AI_TOOL_CALL_ID: "call_1"}
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_completion_hook_puts_the_turn_on_the_official_span(pipe: Pipeline, stream: bool) -> None:
    official = _official(pipe, completion_hook=TurnCompletionHook())
    instrument_openai()
    try:
        api = FakeApi(reply_sse(STREAM) if stream else reply_json(completion()))
        with aii.turn_context(user_id="alice", session_id="s-1"):
            result = api.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream)
            if stream:
                list(result)
    finally:
        uninstrument_openai()
        official.uninstrument()
    (chat,) = _chat_spans(pipe)
    (turn,) = [s for s in pipe.spans() if s.name == "invoke_agent"]
    assert chat.attributes[names.AI_PROMPT_LOG_ID] == turn.attributes[names.AI_PROMPT_LOG_ID]
    assert chat.attributes[names.ENDUSER_PSEUDO_ID] == pipe.runtime.pseudonymizer.pseudonymize("alice")
    assert chat.attributes[names.GEN_AI_CONVERSATION_ID] == "s-1"
    (entry,) = pipe.runtime.prompt_log.entries
    assert entry.log_id == turn.attributes[names.AI_PROMPT_LOG_ID]
    assert entry.assistant_response == "Your order ships today."  # a stream is followed through theirs too
    assert turn.end_time >= chat.end_time


@pytest.mark.parametrize("order", ["official first", "ours first"])
def test_undone_in_reverse_order_the_sdk_method_is_back(pipe: Pipeline, order: str) -> None:
    original = Completions.__dict__["create"]
    if order == "official first":
        official = _official(pipe)
        instrument_openai()
        uninstrument_openai()
        official.uninstrument()
    else:
        instrument_openai()
        official = _official(pipe)
        official.uninstrument()
        uninstrument_openai()
    assert Completions.__dict__["create"] is original


def test_a_stream_traced_by_both_leaves_the_callers_context_as_it_was(pipe: Pipeline, both: str) -> None:
    stream = FakeApi(reply_sse(STREAM)).client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Your order ships today."
    assert not trace.get_current_span().get_span_context().is_valid
    assert len(_chat_spans(pipe)) == 1 and pipe.records(DURATION) == 1
    assert pipe.runtime.prompt_log.entries[0].assistant_response == "Your order ships today."

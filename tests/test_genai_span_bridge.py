"""The GenAI span bridge: inference spans of other instrumentations feed our turn metrics and the prompt log,
and spans our own turns are part of are never counted twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ai_incident import names
from otel_ai_incident.telemetry import hooks
from otel_ai_incident.telemetry.integrations import anthropic as anthropic_integration
from otel_ai_incident.telemetry.integrations.genai_spans import INTEGRATION
from otel_ai_incident.telemetry.integrations.openai import instrument_openai, uninstrument_openai
from telemetry_support import Pipeline
from test_anthropic_integration import FakeApi as FakeAnthropic
from test_anthropic_integration import message
from test_openai_coexistence import _official
from test_openai_integration import MESSAGES, FakeApi, completion, duration_exemplar_spans, reply_json, use_pipeline

MODEL = "gpt-4o-mini"
TURN_OK = {names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "ok"}


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    gen = use_pipeline()
    pipeline = next(gen)
    INTEGRATION.instrument(pipeline.tracer_provider)
    yield pipeline
    INTEGRATION.uninstrument()
    gen.close()


def genai_span(pipe: Pipeline, scope: str, *, finish: str = "stop", error: bool = False, content: bool = True) -> None:
    """A chat span as another instrumentation emits it, made by hand."""
    attributes: dict[str, Any] = {
        names.GEN_AI_OPERATION_NAME: "chat",
        names.GEN_AI_PROVIDER_NAME: "openai",
        names.GEN_AI_REQUEST_MODEL: MODEL,
        names.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        names.GEN_AI_RESPONSE_FINISH_REASONS: (finish,),
        names.GEN_AI_USAGE_INPUT_TOKENS: 12,
        names.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        names.GEN_AI_CONVERSATION_ID: "s-9",
    }
    if content:
        attributes[names.GEN_AI_SYSTEM_INSTRUCTIONS] = json.dumps([{"type": "text", "content": "Be brief."}])
        attributes[names.GEN_AI_INPUT_MESSAGES] = json.dumps(
            [
                {"role": "user", "parts": [{"type": "text", "content": "first question"}]},
                {"role": "user", "parts": [{"type": "text", "content": "where is my order?"}]},
            ]
        )
        attributes[names.GEN_AI_OUTPUT_MESSAGES] = json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "It ships today."}], "finish_reason": finish}]
        )
    tracer = pipe.tracer_provider.get_tracer(scope)
    with tracer.start_as_current_span(f"chat {MODEL}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        if error:
            span.set_attribute(names.ERROR_TYPE, "RateLimitError")
            span.set_status(Status(StatusCode.ERROR))


def test_a_genai_span_becomes_a_turn_with_its_metrics_and_a_prompt_log_entry(pipe: Pipeline) -> None:
    genai_span(pipe, "example.genai.tracing")
    # Read first: a collection hands the exemplars over and starts again.
    assert duration_exemplar_spans(pipe) == [pipe.spans()[0].context.span_id]  # the record points at its span
    assert pipe.value(names.TURNS, **TURN_OK) == 1
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 0
    assert pipe.records(names.OPERATION_DURATION.name) == 1  # its instrumentation records no metrics
    (entry,) = pipe.runtime.prompt_log.entries
    (span,) = pipe.spans()
    assert (entry.user_message, entry.assistant_response) == ("where is my order?", "It ships today.")
    assert (entry.input_tokens, entry.output_tokens, entry.session_id) == (12, 5, "s-9")
    assert entry.system_prompt_hash == pipe.runtime.prompt_hash("Be brief.")
    assert (entry.trace_id, entry.span_id) == (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")


def test_without_captured_content_the_entry_has_no_text(pipe: Pipeline) -> None:
    genai_span(pipe, "example.genai.tracing", content=False)
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.user_message, entry.assistant_response, entry.input_tokens) == (None, None, 12)


def test_refusals_and_errors(pipe: Pipeline) -> None:
    genai_span(pipe, "example.genai.tracing", finish="content_filter")
    genai_span(pipe, "example.genai.tracing", error=True)
    assert pipe.value(names.REFUSALS, **{names.GEN_AI_REQUEST_MODEL: MODEL}) == 1
    assert pipe.value(names.TURNS, **{names.GEN_AI_REQUEST_MODEL: MODEL, names.OUTCOME: "error"}) == 1
    assert pipe.runtime.prompt_log.entries[1].error_type == "RateLimitError"


def test_an_error_status_without_its_type_records_no_message(pipe: Pipeline) -> None:
    tracer = pipe.tracer_provider.get_tracer("example.genai.tracing")
    attributes = {names.GEN_AI_OPERATION_NAME: "chat", names.GEN_AI_REQUEST_MODEL: MODEL}
    with tracer.start_as_current_span("chat", attributes=attributes) as span:
        span.set_status(Status(StatusCode.ERROR, "user jane.doe@example.com was refused"))
    assert pipe.runtime.prompt_log.entries[0].error_type == "_OTHER"


def test_instrumentations_that_record_their_own_metrics_are_not_counted_twice(pipe: Pipeline) -> None:
    genai_span(pipe, "opentelemetry.instrumentation.openai_v2")
    assert pipe.value(names.TURNS, **TURN_OK) == 1
    assert pipe.records(names.OPERATION_DURATION.name) == 0


def test_our_own_turns_are_not_bridged(pipe: Pipeline) -> None:
    with hooks.llm_turn(model=MODEL, user_message="hi") as turn:
        with turn.model_call() as call:
            call.reply(hooks.ModelReply(input_tokens=3, output_tokens=2))
        turn.complete("hello")
    assert pipe.value(names.TURNS, **TURN_OK) == 1 and len(pipe.runtime.prompt_log.entries) == 1


def test_a_span_of_the_official_openai_instrumentation_becomes_a_turn(pipe: Pipeline) -> None:
    official = _official(pipe)
    try:
        FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        official.uninstrument()
    assert pipe.value(names.TURNS, **TURN_OK) == 1
    (entry,) = pipe.runtime.prompt_log.entries
    assert (entry.input_tokens, entry.output_tokens, entry.model) == (12, 5, MODEL)
    assert pipe.records(names.OPERATION_DURATION.name) == 1  # theirs only


@pytest.mark.parametrize("ours_first", [False, True])
def test_with_our_openai_wrapper_too_each_call_is_one_turn(pipe: Pipeline, ours_first: bool) -> None:
    if ours_first:
        instrument_openai()
    official = _official(pipe)
    if not ours_first:
        instrument_openai()
    try:
        FakeApi(reply_json(completion())).client().chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:  # undone newest first: each restores what it replaced
        if ours_first:
            official.uninstrument()
            uninstrument_openai()
        else:
            uninstrument_openai()
            official.uninstrument()
    assert pipe.value(names.TURNS, **TURN_OK) == 1
    assert len(pipe.runtime.prompt_log.entries) == 1


def test_the_anthropic_sdks_own_spans(pipe: Pipeline) -> None:
    """The Anthropic SDK traces its calls itself (no metrics): bridged alone, skipped under our wrapper."""
    api = FakeAnthropic(reply_json(message()))
    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://anthropic.test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(api)),
        open_telemetry={"tracer_provider": pipe.tracer_provider},
    )
    request = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    client.messages.create(**request)
    turns = {names.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5", names.OUTCOME: "ok"}
    assert pipe.value(names.TURNS, **turns) == 1
    assert pipe.records(names.OPERATION_DURATION.name) == 1
    anthropic_integration.INTEGRATION.instrument(client)
    try:
        client.messages.create(**request)
    finally:
        anthropic_integration.INTEGRATION.uninstrument()
    assert pipe.value(names.TURNS, **turns) == 2  # one more: ours, theirs not bridged
    assert pipe.records(names.OPERATION_DURATION.name) == 2
    assert len(pipe.runtime.prompt_log.entries) == 2


def test_a_genai_span_beside_one_of_our_turns_in_the_same_request_is_bridged(pipe: Pipeline) -> None:
    """Our turn inside the app's request span covers that turn only, not the request's other calls."""
    with pipe.tracer_provider.get_tracer("example.app").start_as_current_span("GET /chat"):
        with hooks.llm_turn(model=MODEL, user_message="hi") as turn:
            turn.complete("hello")
        genai_span(pipe, "example.genai.tracing")
    assert pipe.value(names.TURNS, **TURN_OK) == 2
    assert len(pipe.runtime.prompt_log.entries) == 2
